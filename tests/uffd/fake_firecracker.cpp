// fake_firecracker: both sides of Firecracker's userfaultfd protocol, for the shell harnesses
// and the benchmark.
//
//   fake_firecracker vmm --socket PATH --size BYTES [--regions SIZE,SIZE...] [--image RAW]
//                        [--threads N] [--remove] [--bench random|sequential] [--samples N]
//                        [--hold SECONDS] [--ready-file PATH]
//     Acts as the VMM: maps the regions (gaps between them), registers them with a userfaultfd
//     as Firecracker does, connects and sends the handshake. With --image, touches every page
//     from N threads and compares it with RAW (exit 1 on a difference); --remove then checks that
//     a removed range reads zeros. With --bench, times first touches instead: `random` touches
//     --samples random pages one at a time and prints the p50/p99 latency; `sequential` touches
//     every page in order and prints MiB/s. Then creates --ready-file (if given), waits --hold
//     seconds and closes the socket.
//   fake_firecracker touch-file RAW
//     Firecracker's default File backend: maps RAW privately and touches every page in order;
//     prints MiB/s.
//   fake_firecracker floor --socket PATH --image RAW
//     The floor a handler can reach: serves one VMM's faults with a 4 KiB UFFDIO_COPY each from
//     RAW loaded into memory, until the VMM hangs up.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_vmm.hpp"

namespace {

constexpr uint64_t kPage = 4096;

uint64_t parse_size(const std::string& text) {
  size_t used = 0;
  uint64_t v = std::stoull(text, &used);
  const std::string suffix = text.substr(used);
  if (suffix == "K") v <<= 10;
  if (suffix == "M") v <<= 20;
  if (suffix == "G") v <<= 30;
  return v;
}

std::vector<unsigned char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<unsigned char>((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
}

double now_us() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int run_vmm(const std::string& socket, std::vector<uint64_t> regions, const std::string& image,
            unsigned threads, bool remove, const std::string& bench, uint64_t samples,
            unsigned hold_s, const std::string& ready_file) {
  hexz_test::FakeVmm vmm(regions);
  vmm.connect(socket);
  int status = 0;
  if (!image.empty()) {
    const std::vector<unsigned char> raw = read_all(image);
    std::string first_bad;
    const uint64_t bad = vmm.touch_and_compare(raw, threads, &first_bad);
    std::printf("checked %llu pages from %u threads: %llu differ%s%s\n",
                static_cast<unsigned long long>([&] {
                  uint64_t n = 0;
                  for (uint64_t r : regions) n += r / kPage;
                  return n;
                }()),
                threads, static_cast<unsigned long long>(bad), bad ? ": " : "", first_bad.c_str());
    if (bad != 0) status = 1;
    if (remove) {
      vmm.remove(0, 16 * kPage, 16 * kPage);
      std::vector<std::byte> zeros(16 * kPage);
      if (std::memcmp(vmm.region(0) + 16 * kPage, zeros.data(), zeros.size()) != 0) {
        std::printf("a removed range does not read as zeros\n");
        status = 1;
      }
    }
  }
  if (bench == "random") {
    std::vector<uint64_t> pages;
    for (size_t k = 0; k < vmm.region_count(); ++k) {
      for (uint64_t p = 0; p < vmm.region_size(k) / kPage; ++p) pages.push_back(k << 40 | p);
    }
    std::mt19937_64 rng(42);
    std::shuffle(pages.begin(), pages.end(), rng);
    samples = std::min<uint64_t>(samples, pages.size());
    std::vector<double> us;
    volatile unsigned char sink = 0;
    for (uint64_t i = 0; i < samples; ++i) {
      const size_t k = static_cast<size_t>(pages[i] >> 40);
      const uint64_t p = pages[i] & ((1ull << 40) - 1);
      const double t0 = now_us();
      sink = sink + static_cast<unsigned char>(vmm.region(k)[p * kPage + 17]);
      us.push_back(now_us() - t0);
    }
    std::sort(us.begin(), us.end());
    // Touches of pages an earlier fault already filled take well under a microsecond: the
    // ones above 3 us are the faults.
    std::vector<double> faults;
    for (double t : us) {
      if (t > 3.0) faults.push_back(t);
    }
    const auto pct = [](const std::vector<double>& v, size_t per100) {
      return v.empty() ? 0.0 : v[std::min(v.size() - 1, v.size() * per100 / 100)];
    };
    std::printf(
        "random first touches: %llu, p50 %.1f us, p99 %.1f us; the %zu that faulted: p50 %.1f "
        "us, p99 %.1f us\n",
        static_cast<unsigned long long>(samples), pct(us, 50), pct(us, 99), faults.size(),
        pct(faults, 50), pct(faults, 99));
  } else if (bench == "sequential") {
    uint64_t bytes = 0;
    volatile unsigned char sink = 0;
    const double t0 = now_us();
    for (size_t k = 0; k < vmm.region_count(); ++k) {
      for (uint64_t off = 0; off < vmm.region_size(k); off += kPage) {
        sink = sink + static_cast<unsigned char>(vmm.region(k)[off]);
      }
      bytes += vmm.region_size(k);
    }
    const double seconds = (now_us() - t0) / 1e6;
    std::printf("sequential first touches: %.1f MiB in %.3f s, %.0f MiB/s\n",
                static_cast<double>(bytes) / (1 << 20), seconds,
                static_cast<double>(bytes) / (1 << 20) / seconds);
  }
  if (!ready_file.empty()) std::ofstream(ready_file) << "touched\n";
  if (hold_s > 0) std::this_thread::sleep_for(std::chrono::seconds(hold_s));
  vmm.hang_up();
  return status;
}

/// The floor handler: one 4 KiB UFFDIO_COPY per fault from memory.
int run_floor(const std::string& socket, const std::string& image) {
  const std::vector<unsigned char> raw = read_all(image);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
  ::unlink(socket.c_str());
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0) {
    std::perror("bind");
    return 1;
  }
  const int conn = ::accept(listener, nullptr, nullptr);
  char buf[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  iovec iov{buf, sizeof buf - 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(conn, &msg, 0);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  if (n <= 0 || cm == nullptr) return 1;
  int uffd;
  std::memcpy(&uffd, CMSG_DATA(cm), sizeof uffd);
  buf[n] = 0;
  // Regions: pull the numbers out of the compact JSON the fake VMM sends.
  struct Region {
    uint64_t base, size, offset;
  };
  std::vector<Region> regions;
  for (const char* p = buf; (p = std::strstr(p, "\"base_host_virt_addr\":")) != nullptr;) {
    Region r{};
    std::sscanf(p, "\"base_host_virt_addr\":%lu,\"size\":%lu,\"offset\":%lu", &r.base, &r.size,
                &r.offset);
    regions.push_back(r);
    ++p;
  }
  for (;;) {
    pollfd fds[2] = {{uffd, POLLIN, 0}, {conn, POLLIN, 0}};
    ::poll(fds, 2, -1);
    if (fds[1].revents != 0) break;  // The VMM hung up.
    uffd_msg m;
    if (::read(uffd, &m, sizeof m) != sizeof m || m.event != UFFD_EVENT_PAGEFAULT) continue;
    const uint64_t page = m.arg.pagefault.address & ~(kPage - 1);
    for (const Region& r : regions) {
      if (page < r.base || page >= r.base + r.size) continue;
      const uint64_t at = r.offset + (page - r.base);
      uffdio_copy c{};
      c.dst = page;
      c.src = reinterpret_cast<uint64_t>(raw.data() + std::min<uint64_t>(at, raw.size() - kPage));
      c.len = kPage;
      (void)::ioctl(uffd, UFFDIO_COPY, &c);
    }
  }
  ::unlink(socket.c_str());
  return 0;
}

/// A private mapping of RAW, every page touched in order.
int run_touch_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  const off_t size = ::lseek(fd, 0, SEEK_END);
  void* p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw std::runtime_error("cannot map " + path);
  const auto* bytes = static_cast<const unsigned char*>(p);
  volatile unsigned char sink = 0;
  const double t0 = now_us();
  for (off_t off = 0; off < size; off += static_cast<off_t>(kPage)) sink = sink + bytes[off];
  const double seconds = (now_us() - t0) / 1e6;
  std::printf("file first touches: %.1f MiB in %.3f s, %.0f MiB/s\n",
              static_cast<double>(size) / (1 << 20), seconds,
              static_cast<double>(size) / (1 << 20) / seconds);
  ::munmap(p, static_cast<size_t>(size));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fake_firecracker vmm|floor --socket PATH ... (see the source)\n");
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "touch-file" && argc == 3) return run_touch_file(argv[2]);
  std::string socket, image, bench, ready_file;
  std::vector<uint64_t> regions;
  uint64_t size = 0, samples = 2000;
  unsigned threads = 4, hold_s = 0;
  bool remove = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--socket")
      socket = next();
    else if (a == "--image")
      image = next();
    else if (a == "--size")
      size = parse_size(next());
    else if (a == "--threads")
      threads = static_cast<unsigned>(std::stoul(next()));
    else if (a == "--remove")
      remove = true;
    else if (a == "--hold")
      hold_s = static_cast<unsigned>(std::stoul(next()));
    else if (a == "--ready-file")
      ready_file = next();
    else if (a == "--bench")
      bench = next();
    else if (a == "--samples")
      samples = std::stoull(next());
    else if (a == "--regions") {
      std::string list = next();
      for (size_t at = 0; at <= list.size();) {
        const size_t comma = std::min(list.find(',', at), list.size());
        regions.push_back(parse_size(list.substr(at, comma - at)));
        at = comma + 1;
      }
    } else {
      std::fprintf(stderr, "fake_firecracker: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    if (mode == "floor") return run_floor(socket, image);
    if (regions.empty()) {
      if (size == 0 && !image.empty()) size = read_all(image).size();
      regions.push_back((size + kPage - 1) / kPage * kPage);
    }
    return run_vmm(socket, regions, image, threads, remove, bench, samples, hold_s, ready_file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake_firecracker: %s\n", e.what());
    return 1;
  }
}

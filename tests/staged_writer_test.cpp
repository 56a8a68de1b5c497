// io::StagedWriter (the pack output's staging buffers and O_DIRECT writes) and the
// AtomicOutputFile built on it: the bytes on disk are exactly those appended and patched, with
// direct I/O on or off, on a disk filesystem and on tmpfs, and write errors are reported.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hexz/error.hpp"
#include "io/output_file.hpp"
#include "io/staged_writer.hpp"
#include "support/fixture.hpp"

namespace hexz_test {
namespace {

namespace fs = std::filesystem;
using hexz::ErrorCode;
using hexz::io::StagedWriter;
constexpr size_t kStage = StagedWriter::kStageSize;

std::span<const std::byte> as_span(const Bytes& b, size_t from = 0, size_t n = SIZE_MAX) {
  const size_t len = std::min(n, b.size() - from);
  return {reinterpret_cast<const std::byte*>(b.data()) + from, len};
}

/// Writes `expect` through a StagedWriter in pieces of odd sizes, patches three ranges (one
/// already written out, one still staged, one across the boundary) and returns the file.
Bytes write_and_patch(const std::string& path, Bytes& expect, bool* was_direct) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0);
  {
    StagedWriter w(fd, path);
    *was_direct = w.direct();
    size_t at = 0;
    for (size_t step = 1; at < expect.size(); step = step * 7 % 1000003 + 4093) {
      const size_t n = std::min(step, expect.size() - at);
      w.append(as_span(expect, at, n));
      at += n;
      EXPECT_EQ(w.position(), at);
    }
    const Bytes patch = random_bytes(5000, 99);
    const uint64_t boundary = expect.size() / kStage * kStage - 100;  // straddles a hand-off
    for (const uint64_t off : {uint64_t{10}, boundary, uint64_t{expect.size() - 6000}}) {
      w.write_at(off, as_span(patch));
      std::copy(patch.begin(), patch.end(), expect.begin() + static_cast<std::ptrdiff_t>(off));
    }
    w.finish();
  }
  ::close(fd);
  return read_file(path);
}

/// True if `dir` is on ext4 or XFS, which both take O_DIRECT.
bool on_ext4_or_xfs(const std::string& dir) {
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) != 0) return false;
  return st.f_type == 0xEF53 || st.f_type == 0x58465342;
}

class StagedWriterTest : public HexzTest {};

TEST_F(StagedWriterTest, FileHoldsExactlyTheBytesWrittenWithDirectIoOnAndOff) {
  for (const char* direct : {"1", "0"}) {
    ::setenv("HEXZ_DIRECT_IO", direct, 1);
    Bytes expect = random_bytes(2 * kStage + 777'777, 1);  // two full buffers and a tail
    bool was_direct = false;
    const Bytes got = write_and_patch(output(std::string("f") + direct), expect, &was_direct);
    if (std::string(direct) == "0") {
      EXPECT_FALSE(was_direct);
    } else if (on_ext4_or_xfs(out_dir())) {
      EXPECT_TRUE(was_direct) << "ext4 and XFS take O_DIRECT";
    }
    EXPECT_EQ(got.size(), expect.size()) << "HEXZ_DIRECT_IO=" << direct;
    EXPECT_TRUE(got == expect) << "HEXZ_DIRECT_IO=" << direct;
  }
  ::unsetenv("HEXZ_DIRECT_IO");
}

TEST_F(StagedWriterTest, WorksOnTmpfs) {
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  const std::string path = "/dev/shm/hexz-staged-" + std::to_string(::getpid());
  Bytes expect = random_bytes(kStage + 12'345, 2);
  bool was_direct = false;
  const Bytes got = write_and_patch(path, expect, &was_direct);
  fs::remove(path);
  EXPECT_TRUE(got == expect) << "direct: " << was_direct;
}

TEST_F(StagedWriterTest, SmallFilesAreWrittenAtFinishOnly) {
  const std::string path = output("small");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  const Bytes data = random_bytes(1000, 3);
  {
    StagedWriter w(fd, path);
    w.append(as_span(data));
    EXPECT_EQ(fs::file_size(path), 0u);  // staged, not yet written
    w.finish();
  }
  ::close(fd);
  EXPECT_TRUE(read_file(path) == data);
}

TEST_F(StagedWriterTest, AWriteErrorIsReportedWithTheFileName) {
  const int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (fd < 0) GTEST_SKIP() << "no /dev/full";
  const Bytes data = random_bytes(kStage + 10, 4);
  EXPECT_TRUE(ThrowsWith(
      [&] {
        StagedWriter w(fd, "the-output.hxz");
        w.append(as_span(data));  // the first buffer fails in the background
        w.finish();
      },
      ErrorCode::kIo, "cannot write 'the-output.hxz'"));
  ::close(fd);
}

TEST_F(StagedWriterTest, AtomicOutputFileCommitsTheStagedBytes) {
  const std::string path = output("snap.hxz");
  Bytes expect = random_bytes(kStage + 4096 * 3 + 17, 5);
  {
    hexz::io::AtomicOutputFile out(path, false);
    out.append(as_span(expect, 0, 100));
    out.append(as_span(expect, 100));
    EXPECT_EQ(out.position(), expect.size());
    const Bytes header = random_bytes(512, 6);
    out.write_at(0, as_span(header));  // patched after its bytes were written out
    std::copy(header.begin(), header.end(), expect.begin());
    out.commit();
  }
  EXPECT_TRUE(read_file(path) == expect);
  EXPECT_EQ(list_dir(out_dir()), std::vector<std::string>{"snap.hxz"});
}

}  // namespace
}  // namespace hexz_test

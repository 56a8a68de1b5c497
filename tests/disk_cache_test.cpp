// The on-disk cache of remote bytes (io::DiskCache): byte budget, LRU eviction, temporary files,
// and processes sharing one directory.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hexz/error.hpp"
#include "io/disk_cache.hpp"
#include "support/fixture.hpp"

namespace hexz {
namespace {

namespace fs = std::filesystem;
using io::DiskCache;
constexpr uint64_t kMiB = DiskCache::kPieceSize;

/// The content of piece `index` of a test object: depends on the object's seed and the index.
std::vector<std::byte> piece_bytes(uint64_t seed, uint64_t index, uint64_t length = kMiB) {
  std::vector<std::byte> out(length);
  std::mt19937_64 rng(seed * 1000003 + index);
  for (size_t i = 0; i < out.size(); i += 8) {
    const uint64_t v = rng();
    for (size_t k = 0; k < 8 && i + k < out.size(); ++k) out[i + k] = std::byte(v >> (8 * k));
  }
  return out;
}

/// True if piece `index` is cached with exactly the expected content.
bool has_piece(const DiskCache& cache, uint64_t seed, uint64_t index) {
  std::vector<std::byte> got(cache.piece_length(index));
  return cache.get(index, 0, got) && got == piece_bytes(seed, index, got.size());
}

/// The files named like pieces under `root`, by piece file path.
std::vector<fs::path> files_under(const fs::path& root) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

/// Sets the mtime of every piece file of index `index` under `root` to `seconds` ago.
void age_piece(const fs::path& root, uint64_t index, int seconds) {
  for (const fs::path& p : files_under(root)) {
    if (p.filename() != std::to_string(index)) continue;
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    const timespec times[2] = {{now.tv_sec - seconds, 0}, {now.tv_sec - seconds, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0) << p;
  }
}

class DiskCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = (temp_.path() / "cache").string(); }
  hexz_test::TempDir temp_;
  std::string root_;
};

TEST_F(DiskCacheTest, StoresAndServesPieces) {
  DiskCache cache(root_, "http://h/a.hxz", "\"e1\"", 3 * kMiB + 100, 0);
  EXPECT_EQ(cache.piece_length(3), 100u);
  EXPECT_FALSE(has_piece(cache, 1, 0));
  cache.put(0, piece_bytes(1, 0));
  cache.put(3, piece_bytes(1, 3, 100));
  EXPECT_TRUE(has_piece(cache, 1, 0));
  EXPECT_TRUE(has_piece(cache, 1, 3));
  std::vector<std::byte> part(10);
  ASSERT_TRUE(cache.get(0, 4096, part));
  const auto whole = piece_bytes(1, 0);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + 4096));
  // Another version of the object (other ETag) shares nothing.
  DiskCache other(root_, "http://h/a.hxz", "\"e2\"", 3 * kMiB + 100, 0);
  EXPECT_FALSE(has_piece(other, 1, 0));
}

TEST_F(DiskCacheTest, EvictsLeastRecentlyUsedPiecesToStayWithinBudget) {
  DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 10 * kMiB, 4 * kMiB);
  for (uint64_t i = 0; i < 4; ++i) cache.put(i, piece_bytes(1, i));
  EXPECT_EQ(cache.usage(), 4 * kMiB);
  for (uint64_t i = 0; i < 4; ++i) age_piece(root_, i, 100 - static_cast<int>(i));  // 0 oldest
  ASSERT_TRUE(has_piece(cache, 1, 0));  // a hit: piece 0 becomes the most recently used
  cache.put(4, piece_bytes(1, 4));      // 5 MiB > 4 MiB: evict down to 3.5 MiB
  EXPECT_LE(cache.usage(), 4 * kMiB - kMiB / 2);
  EXPECT_TRUE(has_piece(cache, 1, 0));
  EXPECT_FALSE(has_piece(cache, 1, 1));
  EXPECT_FALSE(has_piece(cache, 1, 2));
  EXPECT_TRUE(has_piece(cache, 1, 3));
  EXPECT_TRUE(has_piece(cache, 1, 4));
}

TEST_F(DiskCacheTest, ObjectsShareTheBudgetAndEmptyObjectDirectoriesGo) {
  DiskCache a(root_, "s3://b/a.hxz", "\"e\"", 8 * kMiB, 3 * kMiB);
  for (uint64_t i = 0; i < 3; ++i) a.put(i, piece_bytes(1, i));
  for (uint64_t i = 0; i < 3; ++i) age_piece(root_, i, 50);
  DiskCache b(root_, "s3://b/b.hxz", "\"e\"", 8 * kMiB, 3 * kMiB);
  for (uint64_t i = 3; i < 6; ++i) {
    b.put(i, piece_bytes(2, i));
    EXPECT_LE(a.usage(), 3 * kMiB);
  }
  // a's older pieces made room for b's; then b's own oldest went.
  for (uint64_t i = 0; i < 3; ++i) EXPECT_FALSE(has_piece(a, 1, i));
  EXPECT_FALSE(has_piece(b, 2, 3));
  EXPECT_TRUE(has_piece(b, 2, 4));
  EXPECT_TRUE(has_piece(b, 2, 5));
  size_t dirs = 0;
  for (const auto& e : fs::directory_iterator(root_)) dirs += e.is_directory() ? 1 : 0;
  EXPECT_EQ(dirs, 1u);  // a's directory was emptied and removed
  // a writes again into its removed directory: it is created anew.
  a.put(5, piece_bytes(1, 5));
  EXPECT_TRUE(has_piece(a, 1, 5));
}

TEST_F(DiskCacheTest, ExistingOverBudgetDirectoryIsTrimmedOnOpen) {
  {
    DiskCache big(root_, "http://h/a.hxz", "\"e\"", 8 * kMiB, 0);  // no limit
    for (uint64_t i = 0; i < 8; ++i) big.put(i, piece_bytes(1, i));
    EXPECT_EQ(big.usage(), 8 * kMiB);
  }
  DiskCache small(root_, "http://h/other.hxz", "\"e\"", kMiB, 2 * kMiB);
  EXPECT_LE(small.usage(), 2 * kMiB);
}

TEST_F(DiskCacheTest, APieceLargerThanTheBudgetIsNotStored) {
  DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 2 * kMiB, kMiB / 2);
  cache.put(0, piece_bytes(1, 0));
  EXPECT_FALSE(has_piece(cache, 1, 0));
  EXPECT_EQ(cache.usage(), 0u);
}

TEST_F(DiskCacheTest, PartialAndTemporaryFilesAreNeverServedAndStaleOnesGo) {
  DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 4 * kMiB, 0);
  cache.put(0, piece_bytes(1, 0));
  const fs::path piece0 = files_under(root_).at(0);
  const fs::path dir = piece0.parent_path();
  // A short piece (as if truncated) is a miss.
  fs::resize_file(piece0, kMiB / 2);
  EXPECT_FALSE(has_piece(cache, 1, 0));
  // A temporary file of piece 1 in the making is a miss.
  {
    std::ofstream(dir / "1.tmp.999999.0", std::ios::binary)
        .write(reinterpret_cast<const char*>(piece_bytes(1, 1).data()), kMiB);
    std::ofstream(dir / "2.tmp.999999.1", std::ios::binary) << "fresh";
  }
  EXPECT_FALSE(has_piece(cache, 1, 1));
  // Unrelated files in the cache directory are left alone, whatever their age.
  std::ofstream(fs::path(root_) / "notes.txt") << "mine";
  fs::create_directories(fs::path(root_) / "keep");
  std::ofstream(fs::path(root_) / "keep" / "1") << "mine too";
  const timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  for (const char* name : {"1.tmp.999999.0"}) {
    ASSERT_EQ(::utimensat(AT_FDCWD, (dir / name).c_str(), old, 0), 0);
  }
  ASSERT_EQ(::utimensat(AT_FDCWD, (fs::path(root_) / "keep" / "1").c_str(), old, 0), 0);
  DiskCache again(root_, "http://h/a.hxz", "\"e\"", 4 * kMiB, 64 * kMiB);  // opens, scans
  EXPECT_FALSE(fs::exists(dir / "1.tmp.999999.0"));                        // stale: removed
  EXPECT_TRUE(fs::exists(dir / "2.tmp.999999.1"));                         // fresh: kept
  EXPECT_TRUE(fs::exists(fs::path(root_) / "notes.txt"));
  EXPECT_TRUE(fs::exists(fs::path(root_) / "keep" / "1"));
}

TEST_F(DiskCacheTest, OnlyOneEvictorAtATime) {
  DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 4 * kMiB, 4 * kMiB);
  // Another process holds the eviction lock: this one skips instead of waiting.
  const int fd = ::open((root_ + "/.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  EXPECT_FALSE(cache.evict());
  ::close(fd);
  EXPECT_TRUE(cache.evict());
}

TEST_F(DiskCacheTest, BudgetFromTheEnvironment) {
  const char* saved = std::getenv("HEXZ_CACHE_DIR_BYTES");
  const std::string saved_value = saved != nullptr ? saved : "";
  ::unsetenv("HEXZ_CACHE_DIR_BYTES");
  EXPECT_EQ(io::cache_budget_for(), uint64_t(1) << 30);
  ::setenv("HEXZ_CACHE_DIR_BYTES", "512M", 1);
  EXPECT_EQ(io::cache_budget_for(), uint64_t(512) << 20);
  ::setenv("HEXZ_CACHE_DIR_BYTES", "0", 1);
  EXPECT_EQ(io::cache_budget_for(), 0u);
  ::setenv("HEXZ_CACHE_DIR_BYTES", "lots", 1);
  try {
    io::cache_budget_for();
    ADD_FAILURE() << "no error for a bad HEXZ_CACHE_DIR_BYTES";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("HEXZ_CACHE_DIR_BYTES='lots' is not a size"),
              std::string::npos)
        << e.what();
  }
  if (saved != nullptr) {
    ::setenv("HEXZ_CACHE_DIR_BYTES", saved_value.c_str(), 1);
  } else {
    ::unsetenv("HEXZ_CACHE_DIR_BYTES");
  }
}

/// Several processes share one small cache directory: each puts and gets pieces of two objects
/// at random. Every hit must have exactly the right bytes, and the directory must end within
/// its budget (plus one piece per process still in flight before its next scan).
TEST_F(DiskCacheTest, ProcessesSharingADirectoryNeverSeeWrongBytes) {
  constexpr int kProcesses = 4;
  constexpr uint64_t kBudget = 6 * kMiB;
  constexpr uint64_t kPieces = 12;
  { DiskCache create(root_, "x", "\"e\"", kMiB, kBudget); }
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int bad = 0;
      {
        DiskCache a(root_, "s3://b/a.hxz", "\"e\"", kPieces * kMiB, kBudget);
        DiskCache b(root_, "s3://b/b.hxz", "\"e\"", kPieces * kMiB, kBudget);
        std::mt19937 rng(static_cast<unsigned>(p) + 1);
        for (int op = 0; op < 120; ++op) {
          const bool use_a = (rng() & 1) != 0;
          const DiskCache& c = use_a ? a : b;
          const uint64_t seed = use_a ? 1 : 2;
          const uint64_t index = rng() % kPieces;
          std::vector<std::byte> got(kMiB);
          if (c.get(index, 0, got)) {
            bad += got == piece_bytes(seed, index) ? 0 : 1;
          } else {
            c.put(index, piece_bytes(seed, index));
          }
        }
      }
      ::_exit(bad == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (const pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a process read wrong bytes";
  }
  DiskCache check(root_, "s3://b/a.hxz", "\"e\"", kPieces * kMiB, kBudget);
  EXPECT_LE(check.usage(), kBudget);
  for (uint64_t i = 0; i < kPieces; ++i) {
    std::vector<std::byte> got(kMiB);
    if (check.get(i, 0, got)) {
      EXPECT_EQ(got, piece_bytes(1, i)) << i;
    }
  }
}

// ---------------------------------------------------------------------------
// Issue 14: a cache directory prepared by another user.

/// The error message of constructing a cache in `dir`, or "" if it was accepted.
std::string refusal_of(const std::string& dir) {
  try {
    DiskCache cache(dir, "http://h/a.hxz", "\"e\"", 2 * kMiB, 0);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "";
}

/// The only object directory under `root`.
fs::path object_dir_of(const fs::path& root) {
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory() && e.path().filename().string().size() == 16) return e.path();
  }
  return {};
}

std::string content_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(DiskCacheTest, NewDirectoriesAndPiecesArePrivate) {
  DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 2 * kMiB, 0);
  cache.put(0, piece_bytes(1, 0));
  struct stat st {};
  ASSERT_EQ(::stat(root_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(object_dir_of(root_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((object_dir_of(root_) / "0").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kMiB + DiskCache::kTrailerSize);
  EXPECT_EQ(cache.usage(), kMiB);  // trailers are not counted
}

TEST_F(DiskCacheTest, RefusesADirectoryOthersCanWriteTo) {
  fs::create_directories(root_);
  for (const unsigned mode : {0777u, 01777u, 0770u, 0720u}) {
    ASSERT_EQ(::chmod(root_.c_str(), mode), 0);
    const std::string msg = refusal_of(root_);
    SCOPED_TRACE(msg);
    EXPECT_NE(msg.find("cache directory '" + root_ + "' is writable by"), std::string::npos);
    EXPECT_NE(msg.find((mode & 02) != 0 ? "by others" : "by its group"), std::string::npos);
    EXPECT_NE(msg.find("refusing it"), std::string::npos);
    EXPECT_TRUE(fs::is_empty(root_));  // nothing was created in it
  }
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  EXPECT_EQ(refusal_of(root_), "");
  // A file is not a cache directory.
  const std::string file = (temp_.path() / "plain").string();
  std::ofstream(file) << "x";
  EXPECT_THROW(DiskCache(file, "n", "\"e\"", kMiB, 0), Error);
}

TEST_F(DiskCacheTest, RefusesADirectoryOwnedByAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown a directory to another user";
  fs::create_directories(root_);
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  ASSERT_EQ(::chown(root_.c_str(), 65534, 65534), 0);
  const std::string msg = refusal_of(root_);
  EXPECT_NE(msg.find("cache directory '" + root_ +
                     "' is owned by uid 65534, not by this user "
                     "(uid 0); refusing it"),
            std::string::npos)
      << msg;
  EXPECT_TRUE(fs::is_empty(root_));
  // An object directory planted by another user inside an accepted cache is not used.
  ASSERT_EQ(::chown(root_.c_str(), 0, 0), 0);
  { DiskCache make(root_, "http://h/a.hxz", "\"e\"", 2 * kMiB, 0); }
  const fs::path obj = object_dir_of(root_);
  ASSERT_EQ(::chown(obj.c_str(), 65534, 65534), 0);
  std::ofstream(obj / "0", std::ios::binary) << "planted";
  DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 2 * kMiB, 1);
  EXPECT_FALSE(has_piece(cache, 1, 0));
  cache.put(1, piece_bytes(1, 1));
  EXPECT_FALSE(fs::exists(obj / "1"));
  EXPECT_EQ(content_of(obj / "0"), "planted");  // eviction (budget 1 byte) left it alone
}

TEST_F(DiskCacheTest, LinksPlantedInTheCacheAreNeverFollowed) {
  const fs::path outside = temp_.path() / "victim";
  fs::create_directories(outside);
  std::ofstream(outside / "0", std::ios::binary) << "victim's own file";
  std::ofstream(outside / "1", std::ios::binary) << "another of the victim's files";
  { DiskCache make(root_, "http://h/a.hxz", "\"e\"", 4 * kMiB, 0); }
  const fs::path obj = object_dir_of(root_);
  ASSERT_FALSE(obj.empty());

  // Piece files that are links to files outside: never read, replaced not written through,
  // and deleted as links on eviction.
  fs::create_symlink(outside / "0", obj / "0");
  fs::create_symlink(outside / "1", obj / "1");
  fs::create_symlink(outside / "2", obj / "2");  // dangling: must not be created
  {
    DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 4 * kMiB, 0);
    EXPECT_FALSE(has_piece(cache, 1, 0));
    cache.put(1, piece_bytes(1, 1));
    EXPECT_TRUE(has_piece(cache, 1, 1));
    EXPECT_FALSE(fs::is_symlink(obj / "1"));
  }
  // The lock file as a link: eviction neither creates nor truncates the target.
  fs::create_symlink(outside / "lock", fs::path(root_) / ".lock");
  {
    DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 4 * kMiB, 1);
    EXPECT_FALSE(cache.evict());
  }
  fs::remove(fs::path(root_) / ".lock");
  { DiskCache evict_all(root_, "http://h/a.hxz", "\"e\"", 4 * kMiB, 1); }  // budget 1 byte
  EXPECT_FALSE(fs::exists(obj / "1"));

  // The object directory itself as a link to a directory outside.
  fs::remove_all(obj);
  fs::create_symlink(outside, obj);
  {
    DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 4 * kMiB, 1);  // scans, evicts
    EXPECT_FALSE(has_piece(cache, 1, 0));
    cache.put(3, piece_bytes(1, 3));
    cache.evict();
  }
  EXPECT_EQ(content_of(outside / "0"), "victim's own file");
  EXPECT_EQ(content_of(outside / "1"), "another of the victim's files");
  EXPECT_FALSE(fs::exists(outside / "2"));
  EXPECT_FALSE(fs::exists(outside / "3"));
  EXPECT_FALSE(fs::exists(outside / "lock"));
}

TEST_F(DiskCacheTest, ADamagedPieceIsDeletedAndFetchedAgain) {
  {
    DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 2 * kMiB, 0);
    cache.put(0, piece_bytes(1, 0));
    cache.put(1, piece_bytes(1, 1));
  }
  const fs::path obj = object_dir_of(root_);
  {
    // One flipped bit in piece 0; piece 1 loses its trailer.
    std::fstream f(obj / "0", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(12345);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(12345);
    f.write(&c, 1);
  }
  fs::resize_file(obj / "1", kMiB);
  DiskCache cache(root_, "http://h/a.hxz", "\"e\"", 2 * kMiB, 0);
  std::vector<std::byte> part(16);
  EXPECT_FALSE(cache.get(0, 12340, part));
  EXPECT_FALSE(fs::exists(obj / "0"));  // dropped, so that it is fetched again
  EXPECT_FALSE(cache.get(1, 0, part));
  EXPECT_FALSE(fs::exists(obj / "1"));
  cache.put(0, piece_bytes(1, 0));
  EXPECT_TRUE(has_piece(cache, 1, 0));
  ASSERT_TRUE(cache.get(0, 12340, part));
  const auto whole = piece_bytes(1, 0);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + 12340));
}

}  // namespace
}  // namespace hexz

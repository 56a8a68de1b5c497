#include "pack/index_writer.hpp"

#include "hash/checksum.hpp"

namespace hexz::packing {

IndexWriter::IndexWriter(Codec page_codec, PageSink sink, const crypto::SnapshotCipher* cipher)
    : compressor_(page_codec, 0), cipher_(cipher), sink_(std::move(sink)) {
  entries_.reserve(format::kMaxPageEntries);
}

void IndexWriter::begin_stream(Stream stream) {
  stream_ = stream;
  stream_first_page_ = static_cast<uint32_t>(master_.size());
  page_first_logical_ = 0;
  next_logical_ = 0;
  entries_.clear();
}

void IndexWriter::add(const format::IndexEntry& entry) {
  if (entries_.empty()) page_first_logical_ = next_logical_;
  entries_.push_back(entry);
  next_logical_ += entry.length;
  if (entries_.size() == format::kMaxPageEntries) flush_page();
}

std::pair<uint32_t, uint32_t> IndexWriter::end_stream() {
  if (!entries_.empty()) flush_page();
  return {stream_first_page_, static_cast<uint32_t>(master_.size()) - stream_first_page_};
}

void IndexWriter::flush_page() {
  const std::vector<unsigned char> page = format::encode_index_page(entries_);
  identity_.update(page.data(), page.size());
  const std::span<const std::byte> raw(reinterpret_cast<const std::byte*>(page.data()),
                                       page.size());
  packed_.resize(compressor_.bound(raw.size()));
  const size_t n = compressor_.compress(raw, packed_);
  format::MasterEntry m;
  m.codec = n == 0 ? Codec::kNone : compressor_.codec();
  std::span<const std::byte> stored = n == 0 ? raw : std::span<const std::byte>(packed_.data(), n);
  m.raw_length = static_cast<uint32_t>(raw.size());
  m.first_logical = page_first_logical_;
  m.entry_count = static_cast<uint32_t>(entries_.size());
  m.stream = stream_;
  std::vector<std::byte> sealed;
  if (cipher_ != nullptr) {
    sealed = cipher_->seal_page(master_.size(), format::page_aead_context(m), stored);
    stored = sealed;
  }
  m.offset = sink_(stored);
  m.stored_length = static_cast<uint32_t>(stored.size());
  m.checksum = hash::checksum64(stored.data(), stored.size());
  master_.push_back(m);
  stored_bytes_ += stored.size();
  entries_.clear();
}

}  // namespace hexz::packing

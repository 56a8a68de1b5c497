// A thread-safe, sharded LRU cache whose budget is counted in bytes, not entries.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hexz::read {

/// Maps Key -> shared_ptr<const Value>. Each value has a byte cost given at insert; each of the
/// `shards` shards evicts its least recently used values when over budget/shards bytes.
template <typename Key, typename Value, typename Hash = std::hash<Key>>
class ByteLruCache {
 public:
  ByteLruCache(uint64_t budget_bytes, size_t shards = 16)
      : shards_(shards), per_shard_budget_(budget_bytes / shards) {}

  /// Returns the cached value or nullptr; a hit becomes most recently used.
  std::shared_ptr<const Value> get(const Key& key) {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return nullptr;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return it->second->value;
  }

  /// True if `key` is cached (its place in the LRU order does not change).
  bool contains(const Key& key) {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    return s.map.count(key) != 0;
  }

  /// Inserts (or replaces) `key`. Values costing more than a shard's budget are not kept.
  void put(const Key& key, std::shared_ptr<const Value> value, uint64_t cost) {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    if (auto it = s.map.find(key); it != s.map.end()) {
      s.bytes -= it->second->cost;
      s.lru.erase(it->second);
      s.map.erase(it);
    }
    if (cost > per_shard_budget_) return;
    s.lru.push_front({key, std::move(value), cost});
    s.map.emplace(key, s.lru.begin());
    s.bytes += cost;
    while (s.bytes > per_shard_budget_ && !s.lru.empty()) {
      auto& last = s.lru.back();
      s.bytes -= last.cost;
      s.map.erase(last.key);
      s.lru.pop_back();
    }
  }

  /// Drops every entry.
  void clear() {
    for (auto& s : shards_) {
      std::lock_guard lock(s.mu);
      s.map.clear();
      s.lru.clear();
      s.bytes = 0;
    }
  }

 private:
  struct Node {
    Key key;
    std::shared_ptr<const Value> value;
    uint64_t cost;
  };
  struct Shard {
    std::mutex mu;
    std::list<Node> lru;
    std::unordered_map<Key, typename std::list<Node>::iterator, Hash> map;
    uint64_t bytes = 0;
  };
  Shard& shard(const Key& key) { return shards_[Hash{}(key) % shards_.size()]; }

  std::vector<Shard> shards_;
  uint64_t per_shard_budget_;
};

}  // namespace hexz::read

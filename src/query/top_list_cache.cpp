#include "tally/query/top_list_cache.hpp"

namespace tally::query {

std::shared_ptr<const TopListCache::Merged> TopListCache::find(const Key& key,
                                                               const Fingerprint& fingerprint) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || !(it->second.merged->fingerprint == fingerprint)) {
        ++stats_.misses;
        return nullptr;
    }
    ++stats_.hits;
    recency_.splice(recency_.begin(), recency_, it->second.recency);
    return it->second.merged;
}

void TopListCache::insert(const Key& key, std::shared_ptr<const Merged> merged) {
    if (merged->bytes > budget_)
        return;
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end())
        erase_locked(it);
    while (!recency_.empty() && stats_.bytes + merged->bytes > budget_)
        erase_locked(entries_.find(recency_.back()));
    recency_.push_front(key);
    stats_.bytes += merged->bytes;
    entries_.emplace(key, Slot{std::move(merged), recency_.begin()});
    stats_.entries = entries_.size();
}

void TopListCache::erase_locked(std::map<Key, Slot>::iterator it) {
    stats_.bytes -= it->second.merged->bytes;
    recency_.erase(it->second.recency);
    entries_.erase(it);
    stats_.entries = entries_.size();
}

TopListCache::Stats TopListCache::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace tally::query

#include "tally/bots/user_agent_cache.hpp"

#include <bit>
#include <functional>

namespace tally::bots {

UserAgentCache::UserAgentCache(std::size_t capacity, std::size_t max_cached_length)
    : slots_(std::bit_ceil(capacity == 0 ? std::size_t{1} : capacity)),
      mask_(slots_.size() - 1),
      max_cached_length_(max_cached_length) {}

bool UserAgentCache::is_bot(const CrawlerList& list, std::string_view user_agent) {
    if (user_agent.size() > max_cached_length_) {
        ++uncached_;
        return list.matches(user_agent);
    }
    const std::uint64_t hash = std::hash<std::string_view>{}(user_agent);
    Slot& slot = slots_[hash & mask_];
    if (slot.used && slot.hash == hash && slot.user_agent == user_agent) {
        ++hits_;
        return slot.bot;
    }
    ++misses_;
    const bool bot = list.matches(user_agent);
    if (!slot.used) {
        slot.used = true;
        ++size_;
    }
    slot.hash = hash;
    slot.user_agent.assign(user_agent);
    slot.bot = bot;
    return bot;
}

void UserAgentCache::clear() {
    for (Slot& slot : slots_)
        slot.used = false;
    size_ = 0;
}

}  // namespace tally::bots

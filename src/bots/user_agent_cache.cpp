#include "tally/bots/user_agent_cache.hpp"

#include <bit>
#include <functional>

namespace tally::bots {

UserAgentCache::UserAgentCache(std::size_t capacity, std::size_t max_cached_length)
    : slots_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity)),
      mask_((slots_.size() - 1) & ~std::size_t{1}),
      max_cached_length_(max_cached_length) {}

bool UserAgentCache::is_bot(const CrawlerList& list, std::string_view user_agent) {
    if (user_agent.size() > max_cached_length_) {
        ++uncached_;
        return list.matches(user_agent);
    }
    const std::uint64_t hash = std::hash<std::string_view>{}(user_agent);
    Slot* const pair = &slots_[hash & mask_];
    for (std::size_t way = 0; way < 2; ++way) {
        Slot& slot = pair[way];
        if (slot.used && slot.hash == hash && slot.user_agent == user_agent) {
            slot.recent = true;
            pair[1 - way].recent = false;
            ++hits_;
            return slot.bot;
        }
    }
    ++misses_;
    const bool bot = list.matches(user_agent);
    // An empty way if there is one, else the one used less recently.
    const std::size_t way = !pair[0].used ? 0 : !pair[1].used ? 1 : pair[0].recent ? 1 : 0;
    Slot& slot = pair[way];
    if (!slot.used) {
        slot.used = true;
        ++size_;
    }
    slot.hash = hash;
    slot.user_agent.assign(user_agent);
    slot.bot = bot;
    slot.recent = true;
    pair[1 - way].recent = false;
    return bot;
}

void UserAgentCache::clear() {
    for (Slot& slot : slots_)
        slot.used = false;
    size_ = 0;
}

}  // namespace tally::bots

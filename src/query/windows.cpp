#include <algorithm>

#include "tally/query/query.hpp"

namespace tally::query {

std::vector<ActiveUser> active_users(const store::Store& store, std::string_view site,
                                     std::int64_t now_ms) {
    store::StringMap<std::uint64_t> sessions_per_user;
    store.active_sessions().sessions_per_visitor(site, now_ms, sessions_per_user);
    std::vector<ActiveUser> users;
    users.reserve(sessions_per_user.size());
    for (auto& [user, count] : sessions_per_user)
        users.push_back({user, count});
    std::sort(users.begin(), users.end(), [](const ActiveUser& a, const ActiveUser& b) {
        return a.session_count != b.session_count ? a.session_count > b.session_count
                                                  : a.user_id < b.user_id;
    });
    return users;
}

std::uint64_t real_time_users(const store::Store& store, std::string_view site,
                              std::int64_t now_ms) {
    return store.active_sessions().count(site, now_ms);
}

Ranked recent_top_pages(const store::Store& store, std::string_view site, std::int64_t now_ms,
                        std::size_t k, std::uint64_t* refused) {
    store::StringMap<std::uint64_t> views;
    std::uint64_t past_cap = 0;
    store.visit_site(site, [&](const store::SiteShard& shard) {
        past_cap += shard.windows.collect_pages(now_ms, views);
    });
    if (refused != nullptr)
        *refused = past_cap;
    Ranked pages(views.begin(), views.end());
    auto by_count_then_name = [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    };
    if (pages.size() > k) {
        std::partial_sort(pages.begin(), pages.begin() + static_cast<std::ptrdiff_t>(k),
                          pages.end(), by_count_then_name);
        pages.resize(k);
    } else {
        std::sort(pages.begin(), pages.end(), by_count_then_name);
    }
    return pages;
}

}  // namespace tally::query

#pragma once
// The Plausible Stats API v1 subset, so a dashboard or script written against Plausible
// reads Tally unchanged: GET /api/v1/stats/realtime/visitors, /aggregate, /timeseries and
// /breakdown, with site_id, period (day 7d 30d month 6mo 12mo custom, with date), metrics
// (visitors visits pageviews events), compare=previous_period, interval (date month),
// property, limit and page; Plausible's answer shapes. Any other parameter or value is a
// 400 naming it. Token-protected like every read.
//
// What the figures are: visitors and visits are the range's merged HyperLogLogs of
// visitors and sessions (Redis-compatible, 0.81 % standard error; exact counts while
// small); pageviews and events are exact. Breakdowns by page, source and country come
// from the day's counters and top lists (exact while the top lists are, the dashboard's
// rule) and have pageviews but no per-member visitors: asking for visitors there is a 400
// that says so. Breakdowns by device, event name and property value (event:props:<key>)
// have both: each member's distinct visitors (a set exact to 512, then a HyperLogLog,
// 0.81 %) and its count.

#include "tally/api/authorization.hpp"
#include "tally/http/router.hpp"
#include "tally/query/top_list_cache.hpp"
#include "tally/store/store.hpp"

namespace tally::api {

class StatsApi {
  public:
    StatsApi(const Authorization& authorization, const store::Store& store,
             query::TopListCache& top_lists)
        : authorization_(authorization), store_(store), top_lists_(top_lists) {}

    void add_routes(http::Router& router);

  private:
    http::Response realtime(const http::Request& request) const;
    http::Response aggregate(const http::Request& request) const;
    http::Response timeseries(const http::Request& request) const;
    http::Response breakdown(const http::Request& request) const;

    const Authorization& authorization_;
    const store::Store& store_;
    query::TopListCache& top_lists_;
};

}  // namespace tally::api

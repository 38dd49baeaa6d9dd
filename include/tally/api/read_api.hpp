#pragma once
// The read API, behind the authorization step: GET /dashboard/<range> (JSON or CSV),
// /timeseries/<metric>, /funnel, /api/v1/dashboard/active-users and
// /api/v1/dashboard/page-views. Every handler validates its parameters and answers 400
// naming the bad one; the figures come from the query layer.
//
// With query_source redis, /dashboard and /timeseries/pageviews are the fleet's, read
// from Redis by the fleet reader on its own thread (the HTTP thread only queues the read);
// those answers carry X-Tally-Source: redis, and a failed read is a 503.

#include <optional>
#include <string>

#include "tally/api/authorization.hpp"
#include "tally/http/router.hpp"
#include "tally/query/fleet_reader.hpp"
#include "tally/query/query.hpp"
#include "tally/store/store.hpp"

namespace tally::api {

class ReadApi {
  public:
    /// `fleet`: with query_source redis, what /dashboard and /timeseries/pageviews read
    /// (else null).
    ReadApi(const Authorization& authorization, const store::Store& store,
            query::FleetReader* fleet = nullptr);

    void add_routes(http::Router& router);

    http::Response dashboard(const http::Request& request) const;
    /// The same from Redis, answered on the reader's thread; 503 when Redis fails or too
    /// many reads wait.
    void dashboard_from_redis(const http::Request& request, http::Responder respond) const;
    http::Response timeseries(const http::Request& request) const;
    /// /timeseries/pageviews from Redis's minute counters (query_source redis): the fleet's.
    void timeseries_from_redis(const http::Request& request, http::Responder respond) const;
    http::Response funnel(const http::Request& request) const;
    http::Response active_users(const http::Request& request) const;
    http::Response page_views(const http::Request& request) const;
    /// GET /api/v1/sites: every site with today's page views and the minute it was last
    /// seen (the site pickers' list).
    http::Response sites(const http::Request& request) const;

  private:
    /// The token check and ?site= of every read: the site, or nullopt with the 401 or 400
    /// to send in `error`.
    std::optional<std::string> authorize_site(const http::Request& request,
                                              http::Response& error) const;

    /// A checked /dashboard request: the site, the range and whether CSV is asked for.
    struct DashboardQuery {
        std::string site;
        query::DayRange range;
        bool csv = false;
        std::optional<std::string> props;  // ?props=<event>: its property breakdown
    };
    std::optional<DashboardQuery> dashboard_query(const http::Request& request,
                                                  http::Response& error) const;
    static http::Response dashboard_response(const query::Dashboard& dashboard,
                                             const DashboardQuery& query);

    /// A checked /timeseries request: the site and what to compute.
    struct TimeseriesQuery {
        std::string site;
        query::TimeseriesRequest request;
    };
    std::optional<TimeseriesQuery> timeseries_query(const http::Request& request,
                                                    http::Response& error) const;
    http::Response local_timeseries(const TimeseriesQuery& query) const;

    const Authorization& authorization_;
    const store::Store& store_;
    query::FleetReader* fleet_;  // null unless query_source is redis
};

}  // namespace tally::api

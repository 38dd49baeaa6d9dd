// The tracking API; see tally/api/track_api.hpp.
//
// The hot path: parse and validate into a reused Event, check the caps, append the record
// to this worker's log file (write(2) only), count it in this worker's shard, answer.
// Nothing here waits on another thread: the log writer and the shard belong to the calling
// I/O thread. With durability.fsync=always the answer is handed to the log's commit
// thread, which gives it after the group fsync that covers the record (a failed fsync
// answers 503); the I/O thread goes on with its other connections meanwhile.

#include "tally/api/track_api.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tally/api/params.hpp"
#include "tally/base/time.hpp"

namespace tally::api {

TrackApi::TrackApi(TrackApiOptions options, const ingest::VisitorHasher& hasher,
                   ingest::InactivitySessions& sessions, write::WritePath& write_path,
                   durability::RejectsLog& rejects, telemetry::Metrics& metrics)
    : options_(std::move(options)),
      hasher_(hasher),
      sessions_(sessions),
      write_path_(write_path),
      rejects_(rejects),
      metrics_(metrics),
      scratch_(options_.workers == 0 ? 1 : options_.workers) {}

void TrackApi::add_routes(http::Router& router) {
    const std::vector<http::Method> post{http::Method::post, http::Method::options};
    router.add_async("track_pageview", post, "/track/pageview",
                     [this](const auto& r, auto respond) { pageview(r, respond); });
    router.add_async("track_event", post, "/track/event",
                     [this](const auto& r, auto respond) { event(r, respond); });
    router.add_async("track_batch", post, "/track/batch",
                     [this](const auto& r, auto respond) { batch(r, respond); });
    router.add_async("plausible_event", post, "/api/event",
                     [this](const auto& r, auto respond) { plausible(r, respond); });
    router.add_async("umami_send", post, "/api/send",
                     [this](const auto& r, auto respond) { umami(r, respond); });
}

std::string TrackApi::client_ip(const http::Request& request) const {
    return client_address(request, options_.trusted_proxies);
}

void TrackApi::add_cors(const http::Request& request, http::Response& response) const {
    for (const auto& origin : options_.cors_origins) {
        if (origin == "*") {
            response.headers.emplace_back("Access-Control-Allow-Origin", "*");
            return;
        }
        if (!request.origin.empty() && origin == request.origin) {
            response.headers.emplace_back("Access-Control-Allow-Origin", origin);
            response.headers.emplace_back("Vary", "Origin");
            return;
        }
    }
}

http::Response TrackApi::preflight(const http::Request& request) const {
    http::Response response;
    response.status = 204;
    add_cors(request, response);
    response.headers.emplace_back("Access-Control-Allow-Methods", "POST, OPTIONS");
    response.headers.emplace_back("Access-Control-Allow-Headers",
                                  request.access_control_request_headers.empty()
                                      ? std::string("Content-Type")
                                      : std::string(request.access_control_request_headers));
    response.headers.emplace_back("Access-Control-Max-Age", "86400");
    return response;
}

http::Response TrackApi::reject(const http::Request& request, std::string_view route,
                                unsigned status, const Rejection& rejection) {
    metrics_.count_rejected(request.worker, rejection.reason);
    rejects_.append(now_ms(), route, rejection.reason, rejection.field, rejection.message,
                    request.body);
    http::Response response = http::error_response(status, rejection.message, rejection.field);
    add_cors(request, response);
    return response;
}

namespace {
http::Response ok_response() {
    http::Response response;
    response.body = R"({"status":"ok"})";
    return response;
}
}  // namespace

void TrackApi::answer_dropped(const http::Request& request, http::Responder& respond,
                              std::string_view reason, std::uint64_t events,
                              http::Response&& response) {
    metrics_.count_dropped(request.worker, reason, events);
    add_cors(request, response);
    respond(std::move(response));
}

void TrackApi::answer_when_logged(const http::Request& request, http::Responder respond,
                                  http::Response&& response) {
    add_cors(request, response);
    if (!write_path_.waits_for_fsync()) {
        respond(std::move(response));  // write(2) has returned: logged per the mode
        return;
    }
    // The log's commit thread calls this after the fsync that covers the record.
    auto answer = [this, respond, response = std::move(response)](bool durable) mutable {
        answer_synced(respond, std::move(response), durable);
    };
    write_path_.when_durable(request.worker, std::move(answer));
}

void TrackApi::answer_synced(http::Responder respond, http::Response&& response, bool durable) {
    if (durable) {
        respond(std::move(response));
        return;
    }
    // The event is written and counted in memory, but its fsync failed: it is not known to
    // be on disk, so it is never answered 200. The log reports the episode.
    const Rejection& not_synced = write::WritePath::log_not_synced();
    metrics_.count_rejected(respond.request().worker, not_synced.reason);
    http::Response failed = http::error_response(503, not_synced.message);
    add_cors(respond.request(), failed);
    respond(std::move(failed));
}

bool TrackApi::from_bot(const http::Request& request, Scratch& scratch) {
    return options_.crawlers != nullptr &&
           scratch.user_agents.is_bot(*options_.crawlers, request.user_agent);
}

void TrackApi::single(const http::Request& request, http::Responder respond, std::string_view route,
                      Parser parse) {
    if (request.method == http::Method::options)
        return respond(preflight(request));
    const std::int64_t now = now_ms();
    const std::string ip = client_ip(request);
    const ingest::RequestContext context{ip, request.user_agent, now};
    Scratch& scratch = scratch_[request.worker % scratch_.size()];
    Event& event = scratch.event;
    if (options_.filter_track_api && from_bot(request, scratch)) {
        return answer_dropped(request, respond, "bot", 1, ok_response());
    }

    if (auto rejection = parse(request.body, context, hasher_, event, scratch.buffers)) {
        return respond(reject(request, route, 400, *rejection));
    }
    if (auto refused = write_path_.admit(request.worker, event))
        return respond(reject(request, route, 429, *refused));
    if (!write_path_.write(request.worker, &event, 1, now))
        return respond(reject(request, route, 503, write::WritePath::log_unavailable()));
    answer_when_logged(request, respond, ok_response());
}

void TrackApi::pageview(const http::Request& request, http::Responder respond) {
    single(request, respond, "/track/pageview", &ingest::parse_pageview);
}

void TrackApi::event(const http::Request& request, http::Responder respond) {
    single(request, respond, "/track/event", &ingest::parse_custom_event);
}

std::size_t TrackApi::admit_batch(std::size_t writer, Scratch& scratch) {
    ingest::BatchResult& parsed = scratch.batch;
    // The accepted items' indices in the body are those not rejected, in order.
    std::vector<BatchItemRejection>& rejected = parsed.rejected;
    std::vector<std::size_t>& item_index = scratch.item_index;
    item_index.clear();
    for (std::size_t index = 0, next_rejected = 0; item_index.size() < parsed.accepted.size();
         ++index) {
        if (next_rejected < rejected.size() && rejected[next_rejected].index == index) {
            ++next_rejected;
        } else {
            item_index.push_back(index);
        }
    }
    std::vector<Event>& events = parsed.accepted;
    std::size_t admitted = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (auto refused = write_path_.admit(writer, events[i])) {
            rejected.push_back({item_index[i], std::move(*refused)});
        } else {
            if (admitted != i)
                std::swap(events[admitted], events[i]);
            ++admitted;
        }
    }
    return admitted;
}

std::string TrackApi::batch_answer(const http::Request& request, std::size_t admitted,
                                   std::vector<BatchItemRejection>& rejected, std::int64_t now) {
    std::sort(rejected.begin(), rejected.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
    nlohmann::ordered_json answer;
    answer["accepted"] = admitted;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& item : rejected) {
        nlohmann::ordered_json entry;
        entry["index"] = item.index;
        entry["error"] = item.rejection.message;
        if (!item.rejection.field.empty())
            entry["field"] = item.rejection.field;
        list.push_back(std::move(entry));
        metrics_.count_rejected(request.worker, item.rejection.reason);
    }
    if (!rejected.empty()) {
        // One audit record for the whole body, with every refused item's reason (the body
        // is not repeated once per bad item).
        rejects_.append_batch(now, "/track/batch", rejected, request.body);
    }
    answer["rejected"] = std::move(list);
    return answer.dump();
}

void TrackApi::batch(const http::Request& request, http::Responder respond) {
    if (request.method == http::Method::options)
        return respond(preflight(request));
    constexpr std::string_view route = "/track/batch";
    const std::int64_t now = now_ms();
    const std::string ip = client_ip(request);
    const ingest::RequestContext context{ip, request.user_agent, now};

    Scratch& scratch = scratch_[request.worker % scratch_.size()];
    ingest::BatchResult& parsed = scratch.batch;
    parsed.accepted.clear();
    parsed.rejected.clear();
    if (auto rejection =
            ingest::parse_batch(request.body, context, hasher_, parsed, scratch.buffers)) {
        return respond(reject(request, route, 400, *rejection));
    }
    if (options_.filter_track_api && from_bot(request, scratch)) {
        // Answered as if counted; each event it would have counted is dropped.
        return answer_dropped(request, respond, "bot", parsed.accepted.size(),
                              http::json_response(200, batch_answer(request, parsed.accepted.size(),
                                                                    parsed.rejected, now)));
    }
    const std::size_t admitted = admit_batch(request.worker, scratch);
    if (admitted > 0 && !write_path_.write(request.worker, parsed.accepted.data(), admitted, now))
        return respond(reject(request, route, 503, write::WritePath::log_unavailable()));

    http::Response response =
        http::json_response(200, batch_answer(request, admitted, parsed.rejected, now));
    if (admitted == 0)
        return respond(std::move(response));  // nothing logged, nothing to wait for
    answer_when_logged(request, respond, std::move(response));
}

}  // namespace tally::api

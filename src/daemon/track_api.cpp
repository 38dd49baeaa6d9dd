// POST /track/pageview, /track/event, /track/batch (SPEC §2).
//
// The hot path: parse and validate into a reused Event, check the caps, append the record
// to this worker's log file (write(2) only), count it in this worker's shard, answer.
// Nothing here waits on another thread: the log writer and the shard belong to the calling
// I/O thread. With durability.fsync=always the answer is handed to the log's commit
// thread, which gives it after the group fsync that covers the record (a failed fsync
// answers 503); the I/O thread goes on with its other connections meanwhile.

#include <chrono>
#include <nlohmann/json.hpp>

#include "app.hpp"

namespace tally::daemon {

TrackApi::TrackApi(const Config& config, const ingest::VisitorHasher& hasher, store::Store& store,
                   durability::EventLog& log, durability::RejectsLog& rejects,
                   telemetry::Metrics& metrics, std::size_t workers)
    : config_(config),
      hasher_(hasher),
      store_(store),
      log_(log),
      rejects_(rejects),
      metrics_(metrics),
      scratch_(workers == 0 ? 1 : workers) {}

std::string TrackApi::client_ip(const http::Request& request) const {
    const std::string_view peer = request.client_ip;
    auto trusted = [this](std::string_view ip) {
        for (const auto& proxy : config_.trusted_proxies) {
            if (proxy == ip)
                return true;
        }
        return false;
    };
    if (request.x_forwarded_for.empty() || !trusted(peer))
        return std::string(peer);
    // "client, proxy1, proxy2": walk from the right past our own trusted proxies.
    std::string_view list = request.x_forwarded_for;
    while (!list.empty()) {
        const auto comma = list.rfind(',');
        std::string_view hop = comma == std::string_view::npos ? list : list.substr(comma + 1);
        while (!hop.empty() && hop.front() == ' ')
            hop.remove_prefix(1);
        while (!hop.empty() && hop.back() == ' ')
            hop.remove_suffix(1);
        if (!hop.empty() && !trusted(hop))
            return std::string(hop);
        if (comma == std::string_view::npos)
            break;
        list = list.substr(0, comma);
    }
    return std::string(peer);
}

void TrackApi::add_cors(const http::Request& request, http::Response& response) const {
    for (const auto& origin : config_.cors_origins) {
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

Rejection TrackApi::admission_rejection(store::Admission admission,
                                                const Event& event) {
    if (admission == store::Admission::too_many_sites) {
        return {"too_many_sites", "site",
                "too many sites: '" + event.site + "' was refused by limits.max_sites"};
    }
    return {"too_many_event_names", "event_name",
            "too many event names today for site '" + event.site + "': '" + event.event_name +
                "' was refused by limits.max_event_names_per_day"};
}

namespace {
const Rejection kLogUnavailable{"log_unavailable", "",
                                        "the event log cannot be written; nothing was counted"};
const Rejection kLogNotSynced{
    "log_unavailable", "",
    "the event log could not be synced to disk; the event may not survive a crash"};

http::Response ok_response() {
    http::Response response;
    response.body = R"({"status":"ok"})";
    return response;
}
}  // namespace

void TrackApi::answer_when_logged(const http::Request& request, http::Responder respond,
                                  http::Response&& response) {
    add_cors(request, response);
    if (log_.mode() != durability::FsyncMode::always) {
        respond(std::move(response));  // write(2) has returned: logged per the mode
        return;
    }
    // The log's commit thread calls this after the fsync that covers the record.
    auto answer = [this, respond, response = std::move(response)](bool durable) mutable {
        answer_synced(respond, std::move(response), durable);
    };
    log_.when_durable(request.worker, std::move(answer));
}

void TrackApi::answer_synced(http::Responder respond, http::Response&& response, bool durable) {
    if (durable) {
        respond(std::move(response));
        return;
    }
    // The event is written and counted in memory, but its fsync failed: it is not known to
    // be on disk, so it is never answered 200. The log reports the episode.
    metrics_.count_rejected(respond.request().worker, kLogNotSynced.reason);
    http::Response failed = http::error_response(503, kLogNotSynced.message);
    add_cors(respond.request(), failed);
    respond(std::move(failed));
}

bool TrackApi::log_and_count(std::size_t writer, const Event* events, std::size_t count,
                             std::int64_t now) {
    durability::LogPosition logged;  // recorded with the state: snapshots replay from it
    if (!log_.append(writer, events, count, &logged))
        return false;
    store_.apply(writer, events, count, now, &logged);
    for (std::size_t i = 0; i < count; ++i)
        metrics_.count_ingested(writer, events[i].kind);
    return true;
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

    if (auto rejection = parse(request.body, context, hasher_, event, scratch.buffers)) {
        return respond(reject(request, route, 400, *rejection));
    }
    if (auto admission = store_.admit(request.worker, event); admission != store::Admission::ok) {
        return respond(reject(request, route, 429, admission_rejection(admission, event)));
    }
    if (!log_and_count(request.worker, &event, 1, now))
        return respond(reject(request, route, 503, kLogUnavailable));
    answer_when_logged(request, respond, ok_response());
}

void TrackApi::pageview(const http::Request& request, http::Responder respond) {
    single(request, respond, "/track/pageview", &ingest::parse_pageview);
}

void TrackApi::event(const http::Request& request, http::Responder respond) {
    single(request, respond, "/track/event", &ingest::parse_custom_event);
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

    // Admit in place: the events that pass the caps move to the front, in order.
    std::vector<Event>& events = parsed.accepted;
    std::size_t admitted = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (auto admission = store_.admit(request.worker, events[i]);
            admission != store::Admission::ok) {
            rejected.push_back({item_index[i], admission_rejection(admission, events[i])});
        } else {
            if (admitted != i)
                std::swap(events[admitted], events[i]);
            ++admitted;
        }
    }

    if (admitted > 0 && !log_and_count(request.worker, events.data(), admitted, now))
        return respond(reject(request, route, 503, kLogUnavailable));

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
        rejects_.append_batch(now, route, rejected, request.body);
    }
    answer["rejected"] = std::move(list);
    http::Response response = http::json_response(200, answer.dump());
    if (admitted == 0)
        return respond(std::move(response));  // nothing logged, nothing to wait for
    answer_when_logged(request, respond, std::move(response));
}

}  // namespace tally::daemon

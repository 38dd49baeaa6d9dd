#include "tally/reports/report_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "tally/base/time.hpp"
#include "tally/durability/files.hpp"
#include "tally/telemetry/metrics.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace tally::reports {

namespace {

constexpr int kStateFormat = 1;

/// When a report's schedule last changed: its updated_at (every change of the document
/// moves it, but only a change of schedule asks for it), else its created_at.
std::optional<std::int64_t> changed_at(const json& report) {
    for (const char* key : {"updated_at", "created_at"}) {
        const auto it = report.find(key);
        if (it != report.end() && it->is_string()) {
            if (auto ms = parse_rfc3339_ms(it->get_ref<const std::string&>()))
                return ms;
        }
    }
    return std::nullopt;
}

}  // namespace

ReportService::ReportService(ReportServiceOptions options, ReportServiceParts parts)
    : options_(std::move(options)),
      parts_(std::move(parts)),
      state_path_(options_.dir / kStateFileName) {}

ReportService::~ReportService() {
    stop();
}

void ReportService::load() {
    std::lock_guard lock(mutex_);
    state_.clear();
    std::string text, error;
    if (!fs::exists(state_path_))
        return;
    if (durability::read_file(state_path_, text, error)) {
        const json file = json::parse(text, nullptr, false);
        if (file.is_object() && file.value("format", 0) == kStateFormat &&
            file.contains("reports") && file["reports"].is_object()) {
            for (const auto& [id, item] : file["reports"].items()) {
                if (!item.is_object() || !item.value("schedule", json()).is_string() ||
                    !item.value("after", json()).is_number_integer())
                    continue;
                Entry entry{item["schedule"], item["after"], std::nullopt};
                if (item.value("last_due", json()).is_number_integer())
                    entry.last_due = item["last_due"].get<std::int64_t>();
                state_[id] = std::move(entry);
            }
            spdlog::info("reports: the schedule state of {} reports loaded", state_.size());
            return;
        }
        error = "not a state file of format 1";
    }
    // Without it nobody knows what was sent: start every report over from now, so that
    // nothing is sent twice (a run may be missed).
    floor_ms_ = parts_.clock();
    fs::path aside = state_path_;
    aside += ".damaged";
    std::error_code ec;
    fs::rename(state_path_, aside, ec);
    spdlog::error(
        "reports: {} unreadable ({}), moved to {}; every report's schedule starts over "
        "from now",
        state_path_.string(), error, aside.string());
}

void ReportService::start() {
    loop_.start(options_.interval, [this] {
        try {
            run_due();
        } catch (const std::exception& e) {
            spdlog::error("reports: a round failed: {}", e.what());
        }
    });
}

void ReportService::stop() {
    loop_.stop();
}

ReportService::Entry ReportService::effective_locked(const json& report) const {
    const std::string schedule = report.value("schedule", "");
    const auto it = state_.find(report.value("id", ""));
    if (it != state_.end() && it->second.schedule == schedule)
        return it->second;
    // New, or its schedule changed: its first run is the first due time after that.
    Entry entry;
    entry.schedule = schedule;
    entry.after = std::max(changed_at(report).value_or(parts_.clock()), floor_ms_);
    if (it != state_.end()) {
        entry.after = std::max(entry.after, it->second.after);
        entry.last_due = it->second.last_due;
    }
    return entry;
}

std::size_t ReportService::run_due() {
    std::lock_guard round(round_mutex_);
    const std::int64_t now = parts_.clock();
    struct Due {
        json report;
        std::int64_t due_ms;
    };
    std::vector<Due> due;
    State next;
    {
        std::lock_guard lock(mutex_);
        for (json& report : parts_.reports.list()) {
            Entry entry = effective_locked(report);
            const std::int64_t last = last_due_at_or_before(schedule_of(report), now);
            const std::string id = report.value("id", "");
            if (last > entry.after) {
                entry.after = last;
                entry.last_due = last;
                due.push_back({std::move(report), last});
            }
            next[id] = std::move(entry);
        }
        if (next == state_)
            return 0;
    }
    // The bodies are made first: a run that cannot be made (its dashboard is gone) counts as
    // done; trying again every second would not bring the dashboard back.
    std::vector<Run> runs;
    std::vector<std::string> unmade;
    for (const Due& item : due) {
        std::string error;
        if (auto run = make(item.report, item.due_ms, Trigger::schedule, error))
            runs.push_back(std::move(*run));
        else
            unmade.push_back("report " + item.report.value("id", "") + " due " +
                             format_rfc3339_ms(item.due_ms) + " not sent: " + error);
    }
    if (!write_state(next))
        return 0;  // nothing queued: the next round tries again
    {
        std::lock_guard lock(mutex_);
        state_ = std::move(next);
    }
    for (const std::string& message : unmade) {
        counters_->failed.fetch_add(1);
        spdlog::warn("reports: {}", message);
    }
    std::size_t queued = 0;
    for (Run& run : runs)
        queued += queue(std::move(run), Trigger::schedule) ? 1 : 0;
    return queued;
}

ReportService::Status ReportService::status(const json& report) const {
    std::lock_guard lock(mutex_);
    const Entry entry = effective_locked(report);
    const Schedule schedule = schedule_of(report);
    const std::int64_t now = parts_.clock();
    Status status;
    status.last_run = entry.last_due;
    const std::int64_t pending = last_due_at_or_before(schedule, now);
    status.next_run =
        pending > entry.after ? pending : next_due_after(schedule, std::max(entry.after, now));
    return status;
}

ReportService::Queued ReportService::run_now(const json& report) {
    Queued out;
    const std::int64_t due = last_due_at_or_before(schedule_of(report), parts_.clock());
    auto run = make(report, due, Trigger::manual, out.error);
    if (!run) {
        counters_->failed.fetch_add(1);
        return out;
    }
    out.bytes = run->body.size();
    out.run = Run{run->report_id, run->due_ms, run->period, run->url, run->content_type, {}};
    if (!queue(std::move(*run), Trigger::manual)) {
        out.error = "the outbox refused the delivery";
        out.refused = true;
    }
    return out;
}

std::optional<Run> ReportService::make(const json& report, std::int64_t due_ms, Trigger trigger,
                                       std::string& error) const {
    const std::string dashboard_id = report.value("dashboard_id", "");
    const auto dashboard = parts_.dashboards.get(dashboard_id);
    if (!dashboard || documents::workspace_of(*dashboard) != documents::workspace_of(report)) {
        error = "its dashboard " + dashboard_id + " no longer exists";
        return std::nullopt;
    }
    const Period period = previous_period(schedule_of(report), due_ms);
    json data = parts_.data(*dashboard, {period.from_ms, period.to_ms}, parts_.clock());
    return make_run(report, due_ms, std::move(data), trigger);
}

bool ReportService::queue(Run run, Trigger trigger) {
    const std::string id = run.report_id;
    const std::size_t bytes = run.body.size();
    delivery::Delivery delivery;
    delivery.kind = "report";
    delivery.url = run.url;
    delivery.content_type = run.content_type;
    delivery.body = std::move(run.body);
    delivery.done = [counters = counters_, id](bool delivered, const std::string& error) {
        if (!delivered) {
            counters->undelivered.fetch_add(1);
            spdlog::warn("reports: report {} was not delivered: {}", id, error);
        }
    };
    if (!parts_.send(std::move(delivery))) {
        counters_->failed.fetch_add(1);
        spdlog::warn("reports: the outbox refused report {} (to {})", id, run.url);
        return false;
    }
    (trigger == Trigger::schedule ? counters_->scheduled : counters_->manual).fetch_add(1);
    spdlog::info("reports: report {} for {} .. {} queued to {} ({} bytes, {})", id,
                 format_rfc3339_ms(run.period.from_ms), format_rfc3339_ms(run.period.to_ms),
                 run.url, bytes, trigger == Trigger::schedule ? "scheduled" : "run now");
    return true;
}

bool ReportService::write_state(const State& state) {
    json reports = json::object();
    for (const auto& [id, entry] : state) {
        reports[id] = {{"schedule", entry.schedule},
                       {"after", entry.after},
                       {"last_due", entry.last_due ? json(*entry.last_due) : json(nullptr)}};
    }
    const json file = {{"format", kStateFormat}, {"reports", std::move(reports)}};
    fs::path tmp = state_path_;
    tmp += ".tmp";
    try {
        durability::write_file_synced(tmp, file.dump());
        fs::rename(tmp, state_path_);
        durability::sync_directory(options_.dir);
        if (write_failing_)
            spdlog::info("reports: {} written again", state_path_.string());
        write_failing_ = false;
        return true;
    } catch (const std::exception& e) {
        counters_->state_write_failures.fetch_add(1);
        std::error_code ec;
        fs::remove(tmp, ec);
        if (!write_failing_)
            spdlog::error("reports: writing {} failed, no report is sent until it works: {}",
                          state_path_.string(), e.what());
        write_failing_ = true;
        return false;
    }
}

void ReportService::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_reports", "Scheduled reports stored.", "gauge",
                         [this] { return static_cast<double>(parts_.reports.size()); });
    const auto add = [&](const char* name, const char* help,
                         const std::atomic<std::uint64_t>& value) {
        metrics.add_callback(name, help, "counter",
                             [&value] { return static_cast<double>(value.load()); });
    };
    add("tally_report_runs_total", "Scheduled report runs queued for delivery at their due time.",
        counters_->scheduled);
    add("tally_report_manual_runs_total", "Report runs queued through POST .../run.",
        counters_->manual);
    add("tally_report_runs_failed_total",
        "Report runs that could not be made or queued (dashboard gone, outbox refused).",
        counters_->failed);
    add("tally_report_runs_undelivered_total",
        "Report runs the outbox gave up delivering after its retries.", counters_->undelivered);
    add("tally_report_state_write_failures_total",
        "Times the reports' schedule state could not be written (nothing is sent meanwhile).",
        counters_->state_write_failures);
}

}  // namespace tally::reports

// The report scheduler with a clock the test moves: a new report's first run, each due
// time sent once, the state written before the send, never twice across a restart, only
// the latest missed run at start, run-now leaving the schedule alone, a change of schedule,
// a damaged or unwritable state file, a vanished dashboard and a refusing outbox.

#include "tally/reports/report_service.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/process.hpp"
#include "tally/base/time.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::reports {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::int64_t at(const char* rfc3339) {
    return parse_rfc3339_ms(rfc3339).value();
}

using Span = std::pair<std::string, std::string>;

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class ReportServiceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dashboard_id_ = dashboards_
                            .create({{"name", "Traffic"}, {"widgets", json::array()}},
                                    at("2026-01-01T00:00:00Z"))
                            .document["id"];
    }

    /// A report stored at `when` (its created_at and updated_at).
    std::string add_report(const std::string& schedule, std::int64_t when,
                           const std::string& format = "json") {
        json report = {{"name", "r-" + schedule},
                       {"dashboard_id", dashboard_id_},
                       {"schedule", schedule},
                       {"format", format},
                       {"destination", {{"type", "webhook"}, {"url", "http://127.0.0.1:1/h"}}}};
        auto valid = validate_report(report);
        EXPECT_TRUE(std::holds_alternative<json>(valid));
        return reports_.create(std::get<json>(valid), when).document["id"];
    }

    std::unique_ptr<ReportService> service() {
        ReportServiceParts parts{
            reports_, dashboards_,
            [this](const json& dashboard, const dashboards::TimeRange& range, std::int64_t) {
                asked_.push_back(range);
                const json widget = {
                    {"id", "w"}, {"type", "number"}, {"title", "Views"}, {"data", {{"value", 42}}}};
                return json{{"id", dashboard["id"]},
                            {"range", {{"from", range.from_ms}, {"to", range.to_ms}}},
                            {"widgets", json::array({widget})}};
            },
            [this](delivery::Delivery d) {
                // What a crash right now would leave: the state must already name this run.
                state_at_send_.push_back(read_text(state_path()));
                sent_.push_back(std::move(d));
                return accept_;
            },
            [this] { return now_; }};
        auto made = std::make_unique<ReportService>(ReportServiceOptions{dir_.path() + "/reports"},
                                                    std::move(parts));
        made->load();
        return made;
    }

    fs::path state_path() const { return fs::path(dir_.path()) / "reports" / kStateFileName; }

    /// The period of sent run `i`, from its JSON body.
    Span period_of(std::size_t i) const {
        const json body = json::parse(sent_.at(i).body);
        return {format_rfc3339_ms(body["range"]["from"]), format_rfc3339_ms(body["range"]["to"])};
    }

    test::TempDir dir_;
    documents::DocumentStore reports_{fs::path(dir_.path()) / "reports", "report", kMaxReports};
    documents::DocumentStore dashboards_{fs::path(dir_.path()) / "dashboards", "dashboard", 100};
    std::string dashboard_id_;
    std::int64_t now_ = 0;
    bool accept_ = true;
    std::vector<dashboards::TimeRange> asked_;
    std::vector<delivery::Delivery> sent_;
    std::vector<std::string> state_at_send_;
};

TEST_F(ReportServiceTest, ANewReportFirstRunsAtItsNextDueTimeThenOncePerDueTime) {
    const std::string id = add_report("daily@10:00", at("2026-03-05T09:30:00Z"));
    auto s = service();
    now_ = at("2026-03-05T09:59:59.999Z");
    EXPECT_EQ(s->run_due(), 0u);
    EXPECT_FALSE(s->status(*reports_.get(id)).last_run);
    EXPECT_EQ(s->status(*reports_.get(id)).next_run, at("2026-03-05T10:00:00Z"));
    now_ = at("2026-03-05T10:00:00Z");
    EXPECT_EQ(s->run_due(), 1u);
    ASSERT_EQ(sent_.size(), 1u);
    EXPECT_EQ(sent_[0].kind, "report");
    EXPECT_EQ(sent_[0].url, "http://127.0.0.1:1/h");
    EXPECT_EQ(sent_[0].content_type, "application/json");
    EXPECT_EQ(period_of(0), Span("2026-03-04T10:00:00Z", "2026-03-05T10:00:00Z"));
    EXPECT_EQ(json::parse(sent_[0].body)["report"]["due_at"], "2026-03-05T10:00:00Z");
    // The state named the run before it was handed over.
    const json state = json::parse(state_at_send_[0]);
    EXPECT_EQ(state["reports"][id]["last_due"], at("2026-03-05T10:00:00Z"));
    for (const char* t : {"2026-03-05T10:00:00.500Z", "2026-03-05T10:00:01Z",
                          "2026-03-05T23:59:59Z", "2026-03-06T09:59:59.999Z"}) {
        now_ = at(t);
        EXPECT_EQ(s->run_due(), 0u) << t;
    }
    EXPECT_EQ(*s->status(*reports_.get(id)).last_run, at("2026-03-05T10:00:00Z"));
    EXPECT_EQ(s->status(*reports_.get(id)).next_run, at("2026-03-06T10:00:00Z"));
    now_ = at("2026-03-06T10:00:00.200Z");
    EXPECT_EQ(s->run_due(), 1u);
    EXPECT_EQ(period_of(1).second, "2026-03-06T10:00:00Z");
    EXPECT_EQ(s->runs_sent(), 2u);
}

TEST_F(ReportServiceTest, AReportMadeAfterTodaysDueTimeWaitsForTomorrows) {
    add_report("daily@10:00", at("2026-03-05T10:30:00Z"));
    auto s = service();
    now_ = at("2026-03-05T10:31:00Z");
    EXPECT_EQ(s->run_due(), 0u);
    now_ = at("2026-03-06T09:00:00Z");
    EXPECT_EQ(s->run_due(), 0u);
    now_ = at("2026-03-06T10:00:00Z");
    EXPECT_EQ(s->run_due(), 1u);
}

TEST_F(ReportServiceTest, NeverTwiceAcrossARestart) {
    add_report("hourly", at("2026-03-05T09:15:00Z"));
    now_ = at("2026-03-05T10:00:00Z");
    EXPECT_EQ(service()->run_due(), 1u);
    // Restarted (a new service reading the state file) within the same hour, and later in it.
    for (const char* t :
         {"2026-03-05T10:00:00.001Z", "2026-03-05T10:00:05Z", "2026-03-05T10:59:00Z"}) {
        now_ = at(t);
        EXPECT_EQ(service()->run_due(), 0u) << t;
    }
    EXPECT_EQ(sent_.size(), 1u);
    now_ = at("2026-03-05T11:00:00Z");
    EXPECT_EQ(service()->run_due(), 1u);
}

TEST_F(ReportServiceTest, OnlyTheLatestMissedRunIsSentAtStart) {
    const std::string id = add_report("hourly", at("2026-03-05T10:15:00Z"));
    now_ = at("2026-03-05T11:00:00Z");
    EXPECT_EQ(service()->run_due(), 1u);
    // Down from 11:10 to 15:30: four runs missed, one sent, for the last whole hour.
    now_ = at("2026-03-05T15:30:00Z");
    auto s = service();
    EXPECT_EQ(s->status(*reports_.get(id)).next_run, at("2026-03-05T15:00:00Z"));
    EXPECT_EQ(s->run_due(), 1u);
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(period_of(1), Span("2026-03-05T14:00:00Z", "2026-03-05T15:00:00Z"));
    now_ = at("2026-03-05T15:30:01Z");
    EXPECT_EQ(s->run_due(), 0u);
    now_ = at("2026-03-05T16:00:00Z");
    EXPECT_EQ(s->run_due(), 1u);
    EXPECT_EQ(sent_.size(), 3u);
}

TEST_F(ReportServiceTest, AReportMadeWhileDownIsSentOnceAtStartWhenItsDueTimePassed) {
    // Stored at 10:15 and the daemon stopped before any round: at 12:20 it owes 12:00's run.
    add_report("hourly", at("2026-03-05T10:15:00Z"));
    now_ = at("2026-03-05T12:20:00Z");
    auto s = service();
    EXPECT_EQ(s->run_due(), 1u);
    EXPECT_EQ(period_of(0).second, "2026-03-05T12:00:00Z");
    EXPECT_EQ(s->run_due(), 0u);
}

TEST_F(ReportServiceTest, RunNowSendsThePeriodEndingAtTheLastDueTimeAndLeavesTheSchedule) {
    const std::string id = add_report("hourly", at("2026-03-05T10:15:00Z"), "csv");
    auto s = service();
    now_ = at("2026-03-05T10:40:00Z");
    const auto queued = s->run_now(*reports_.get(id));
    EXPECT_TRUE(queued.error.empty()) << queued.error;
    EXPECT_EQ(queued.run.due_ms, at("2026-03-05T10:00:00Z"));
    EXPECT_EQ(queued.run.period.from_ms, at("2026-03-05T09:00:00Z"));
    ASSERT_EQ(sent_.size(), 1u);
    EXPECT_GT(queued.bytes, 0u);
    EXPECT_EQ(queued.bytes, sent_[0].body.size());
    EXPECT_NE(sent_[0].body.find("42"), std::string::npos);
    EXPECT_EQ(sent_[0].content_type, "text/csv; charset=utf-8");
    ASSERT_EQ(asked_.size(), 1u);
    EXPECT_EQ(asked_[0].from_ms, at("2026-03-05T09:00:00Z"));
    EXPECT_EQ(asked_[0].to_ms, at("2026-03-05T10:00:00Z"));
    EXPECT_FALSE(s->status(*reports_.get(id)).last_run);
    EXPECT_EQ(s->run_due(), 0u);
    now_ = at("2026-03-05T11:00:00Z");
    EXPECT_EQ(s->run_due(), 1u);
    EXPECT_EQ(asked_.back().to_ms, at("2026-03-05T11:00:00Z"));
    EXPECT_EQ(s->runs_sent(), 1u);  // the scheduled ones
}

TEST_F(ReportServiceTest, AChangedScheduleStartsOverFromTheChange) {
    const std::string id = add_report("hourly", at("2026-03-05T09:15:00Z"));
    auto s = service();
    now_ = at("2026-03-05T10:00:00Z");
    EXPECT_EQ(s->run_due(), 1u);
    json edited = *reports_.get(id);
    edited["schedule"] = "daily@12:00";
    ASSERT_EQ(reports_.replace(id, edited, 1, at("2026-03-05T10:30:00Z")).outcome,
              documents::DocumentStore::Outcome::ok);
    now_ = at("2026-03-05T11:00:00Z");
    EXPECT_EQ(s->run_due(), 0u);
    EXPECT_EQ(s->status(*reports_.get(id)).next_run, at("2026-03-05T12:00:00Z"));
    now_ = at("2026-03-05T12:00:00Z");
    EXPECT_EQ(s->run_due(), 1u);
    EXPECT_EQ(period_of(1).first, "2026-03-04T12:00:00Z");
    // A change that keeps the schedule (a new name) moves nothing.
    edited = *reports_.get(id);
    edited["name"] = "renamed";
    ASSERT_EQ(reports_.replace(id, edited, 2, at("2026-03-05T12:30:00Z")).outcome,
              documents::DocumentStore::Outcome::ok);
    now_ = at("2026-03-06T12:00:00Z");
    EXPECT_EQ(service()->run_due(), 1u);
}

TEST_F(ReportServiceTest, ADeletedReportLeavesTheStateAndIsNotSent) {
    const std::string id = add_report("hourly", at("2026-03-05T09:15:00Z"));
    auto s = service();
    now_ = at("2026-03-05T09:30:00Z");
    s->run_due();
    EXPECT_TRUE(json::parse(read_text(state_path()))["reports"].contains(id));
    ASSERT_EQ(reports_.remove(id).outcome, documents::DocumentStore::Outcome::ok);
    now_ = at("2026-03-05T10:00:00Z");
    EXPECT_EQ(s->run_due(), 0u);
    EXPECT_FALSE(json::parse(read_text(state_path()))["reports"].contains(id));
}

TEST_F(ReportServiceTest, ADamagedStateFileIsMovedAsideAndNothingIsSentTwice) {
    add_report("hourly", at("2026-03-05T09:15:00Z"));
    now_ = at("2026-03-05T10:00:00Z");
    EXPECT_EQ(service()->run_due(), 1u);
    std::ofstream(state_path()) << "{\"format\": 1, \"repo";  // torn
    now_ = at("2026-03-05T10:20:00Z");
    auto s = service();
    EXPECT_TRUE(fs::exists(state_path().string() + ".damaged"));
    EXPECT_EQ(s->run_due(), 0u);  // 10:00 may have been sent: it is not sent again
    now_ = at("2026-03-05T11:00:00Z");
    EXPECT_EQ(s->run_due(), 1u);
    EXPECT_EQ(sent_.size(), 2u);
}

TEST_F(ReportServiceTest, AnUnwritableStateSendsNothingUntilItCanBeWritten) {
    add_report("hourly", at("2026-03-05T09:15:00Z"));
    auto s = service();
    // A directory where the temporary file goes: the write fails (even for root).
    fs::create_directories(state_path().string() + ".tmp/in-the-way");
    now_ = at("2026-03-05T10:00:00Z");
    EXPECT_EQ(s->run_due(), 0u);
    EXPECT_EQ(s->run_due(), 0u);
    EXPECT_TRUE(sent_.empty());
    fs::remove_all(state_path().string() + ".tmp");
    now_ = at("2026-03-05T10:00:02Z");
    EXPECT_EQ(s->run_due(), 1u);
    EXPECT_EQ(s->run_due(), 0u);
    EXPECT_EQ(period_of(0).second, "2026-03-05T10:00:00Z");
}

TEST_F(ReportServiceTest, ARunWhoseDashboardIsGoneIsCountedAndNotRetried) {
    const std::string id = add_report("hourly", at("2026-03-05T09:15:00Z"));
    auto s = service();
    ASSERT_EQ(dashboards_.remove(dashboard_id_).outcome, documents::DocumentStore::Outcome::ok);
    now_ = at("2026-03-05T10:00:00Z");
    EXPECT_EQ(s->run_due(), 0u);
    EXPECT_EQ(s->run_due(), 0u);
    EXPECT_TRUE(sent_.empty());
    EXPECT_EQ(*s->status(*reports_.get(id)).last_run, at("2026-03-05T10:00:00Z"));
    const auto queued = s->run_now(*reports_.get(id));
    EXPECT_NE(queued.error.find("no longer exists"), std::string::npos) << queued.error;
    telemetry::Metrics metrics(1);
    s->register_metrics(metrics);
    const std::string text = metrics.render();
    EXPECT_NE(text.find("tally_report_runs_failed_total 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("tally_report_runs_total 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("tally_reports 1\n"), std::string::npos) << text;
}

TEST_F(ReportServiceTest, ADashboardOfAnotherWorkspaceIsNeverRead) {
    json report = *reports_.get(add_report("hourly", at("2026-03-05T09:15:00Z")));
    report["workspace"] = "team-a";
    auto s = service();
    now_ = at("2026-03-05T10:30:00Z");
    EXPECT_FALSE(s->run_now(report).error.empty());
    EXPECT_TRUE(asked_.empty());
}

TEST_F(ReportServiceTest, ARefusedDeliveryIsReported) {
    const std::string id = add_report("hourly", at("2026-03-05T09:15:00Z"));
    auto s = service();
    accept_ = false;
    now_ = at("2026-03-05T10:30:00Z");
    EXPECT_FALSE(s->run_now(*reports_.get(id)).error.empty());
    EXPECT_EQ(s->run_due(), 0u);
}

TEST_F(ReportServiceTest, TheLoopSendsWhatIsDue) {
    add_report("hourly", at("2026-03-05T09:15:00Z"));
    now_ = at("2026-03-05T10:00:00Z");
    ReportServiceParts parts{reports_, dashboards_,
                             [](const json&, const dashboards::TimeRange&, std::int64_t) {
                                 return json{{"widgets", json::array()}};
                             },
                             [](delivery::Delivery) { return true; }, [this] { return now_; }};
    ReportService s(ReportServiceOptions{dir_.path() + "/reports", std::chrono::milliseconds(10)},
                    std::move(parts));
    s.load();
    s.start();
    for (int i = 0; i < 500 && s.runs_sent() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s.stop();
    EXPECT_EQ(s.runs_sent(), 1u);
}

}  // namespace
}  // namespace tally::reports

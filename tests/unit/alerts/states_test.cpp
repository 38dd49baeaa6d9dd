// Alert states on disk: a round trip keeps every field, a damaged file is moved aside and
// every rule starts inactive, and the file never sits half written.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/process.hpp"
#include "tally/alerts/alert_states.hpp"

namespace tally::alerts {
namespace {

namespace fs = std::filesystem;

States sample() {
    States states;
    AlertState firing;
    firing.state = State::firing;
    firing.since_ms = 1'700'000'000'123;
    firing.firing_since_ms = 1'700'000'000'123;
    firing.value = 42.5;
    firing.history.push_back({1'700'000'000'000, State::inactive, State::pending, 41.0});
    firing.history.push_back({1'700'000'000'123, State::pending, State::firing, 42.5});
    states["a1"] = firing;
    AlertState quiet;
    quiet.state = State::resolved;
    quiet.since_ms = 5;
    quiet.firing_since_ms = 3;
    quiet.history.push_back({5, State::firing, State::resolved, std::nullopt});
    states["b2"] = quiet;
    states["c3"] = AlertState{};
    return states;
}

void expect_same(const States& a, const States& b) {
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [id, state] : a) {
        ASSERT_TRUE(b.contains(id)) << id;
        const AlertState& other = b.at(id);
        EXPECT_EQ(state.state, other.state) << id;
        EXPECT_EQ(state.since_ms, other.since_ms) << id;
        EXPECT_EQ(state.firing_since_ms, other.firing_since_ms) << id;
        EXPECT_EQ(state.value, other.value) << id;
        ASSERT_EQ(state.history.size(), other.history.size()) << id;
        for (std::size_t i = 0; i < state.history.size(); ++i) {
            EXPECT_EQ(state.history[i].at_ms, other.history[i].at_ms);
            EXPECT_EQ(state.history[i].from, other.history[i].from);
            EXPECT_EQ(state.history[i].to, other.history[i].to);
            EXPECT_EQ(state.history[i].value, other.history[i].value);
        }
    }
}

TEST(AlertStates, RoundTripThroughTheFile) {
    test::TempDir dir;
    const States states = sample();
    std::string error;
    ASSERT_TRUE(save_states(dir.path(), encode_states(states, 99), error)) << error;
    EXPECT_FALSE(fs::exists(fs::path(dir.path()) / "states.data.tmp"));
    expect_same(states, load_states(dir.path()));
    // Saving again replaces the file whole.
    States fewer = states;
    fewer.erase("a1");
    ASSERT_TRUE(save_states(dir.path(), encode_states(fewer, 100), error)) << error;
    expect_same(fewer, load_states(dir.path()));
}

TEST(AlertStates, NoFileIsNoStates) {
    test::TempDir dir;
    EXPECT_TRUE(load_states(dir.path()).empty());
}

TEST(AlertStates, ADamagedFileIsMovedAside) {
    test::TempDir dir;
    const std::string text = encode_states(sample(), 1);
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, text.size() / 2, text.size() - 1}) {
        {
            std::ofstream out(fs::path(dir.path()) / "states.data", std::ios::trunc);
            out << text.substr(0, cut);
        }
        EXPECT_TRUE(load_states(dir.path()).empty()) << cut;
        EXPECT_FALSE(fs::exists(fs::path(dir.path()) / "states.data"));
        EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "states.data.damaged"));
    }
}

TEST(AlertStates, RefusesMalformedStates) {
    States out;
    std::string error;
    EXPECT_FALSE(decode_states(R"({"format":2,"states":{}})", out, error));
    EXPECT_FALSE(decode_states(R"({"format":1,"states":{"a":{"state":"alerting","since":1,
        "firing_since":0,"history":[]}}})",
                               out, error));
    EXPECT_FALSE(decode_states(R"({"format":1,"states":{"a":{"state":"firing","since":1,
        "firing_since":0,"history":[[1,"inactive"]]}}})",
                               out, error));
    EXPECT_TRUE(decode_states(R"({"format":1,"states":{"a":{"state":"firing","since":1,
        "firing_since":1,"value":null,"history":[]}}})",
                              out, error))
        << error;
    EXPECT_EQ(out.at("a").state, State::firing);
}

}  // namespace
}  // namespace tally::alerts

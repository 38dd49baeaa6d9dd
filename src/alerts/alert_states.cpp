#include "tally/alerts/alert_states.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "tally/durability/files.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tally::alerts {

namespace {

constexpr int kFormat = 1;

json number_or_null(const std::optional<double>& value) {
    return value ? json(*value) : json(nullptr);
}

std::optional<double> optional_number(const json& value) {
    if (value.is_number())
        return value.get<double>();
    return std::nullopt;
}

json encode_state(const AlertState& state) {
    json history = json::array();
    for (const Transition& t : state.history)
        history.push_back({t.at_ms, state_name(t.from), state_name(t.to), number_or_null(t.value)});
    return {{"state", state_name(state.state)},
            {"since", state.since_ms},
            {"firing_since", state.firing_since_ms},
            {"value", number_or_null(state.value)},
            {"history", std::move(history)}};
}

bool decode_state(const json& in, AlertState& out) {
    if (!in.is_object())
        return false;
    const auto state = parse_state(in.value("state", ""));
    const json& since = in.value("since", json());
    const json& firing = in.value("firing_since", json());
    const json& history = in.value("history", json());
    if (!state || !since.is_number_integer() || !firing.is_number_integer() || !history.is_array())
        return false;
    out.state = *state;
    out.since_ms = since.get<std::int64_t>();
    out.firing_since_ms = firing.get<std::int64_t>();
    out.value = optional_number(in.value("value", json()));
    for (const json& entry : history) {
        if (!entry.is_array() || entry.size() != 4 || !entry[0].is_number_integer() ||
            !entry[1].is_string() || !entry[2].is_string())
            return false;
        const auto from = parse_state(entry[1].get<std::string>());
        const auto to = parse_state(entry[2].get<std::string>());
        if (!from || !to)
            return false;
        out.history.push_back(
            {entry[0].get<std::int64_t>(), *from, *to, optional_number(entry[3])});
    }
    while (out.history.size() > kHistoryLimit)
        out.history.pop_front();
    return true;
}

}  // namespace

std::string encode_states(const States& states, std::int64_t now_ms) {
    json all = json::object();
    for (const auto& [id, state] : states)
        all[id] = encode_state(state);
    return json{{"format", kFormat}, {"saved_at", now_ms}, {"states", std::move(all)}}.dump();
}

bool decode_states(std::string_view text, States& out, std::string& error) {
    const json file = json::parse(text, nullptr, false);
    if (!file.is_object() || !file.value("format", json()).is_number_integer()) {
        error = "not a states file";
        return false;
    }
    if (file["format"].get<int>() != kFormat) {
        error = "format " + file["format"].dump() + " is not this build's";
        return false;
    }
    const json& states = file.value("states", json());
    if (!states.is_object()) {
        error = "no states";
        return false;
    }
    States decoded;
    for (const auto& [id, state] : states.items()) {
        if (!decode_state(state, decoded[id])) {
            error = "the state of rule " + id + " is malformed";
            return false;
        }
    }
    out = std::move(decoded);
    return true;
}

bool save_states(const fs::path& dir, std::string_view text, std::string& error) {
    const fs::path path = dir / kStatesFile;
    fs::path tmp = path;
    tmp += ".tmp";
    try {
        durability::write_file_synced(tmp, text);
        fs::rename(tmp, path);
        durability::sync_directory(dir);
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        std::error_code ec;
        fs::remove(tmp, ec);
        return false;
    }
}

States load_states(const fs::path& dir) {
    const fs::path path = dir / kStatesFile;
    std::error_code ec;
    if (!fs::exists(path, ec))
        return {};
    std::string bytes;
    std::string error;
    States states;
    if (durability::read_file(path, bytes, error) && decode_states(bytes, states, error))
        return states;
    fs::path aside = path;
    aside += ".damaged";
    fs::rename(path, aside, ec);
    spdlog::error("alert states {} not loaded ({}); moved to {}: every rule starts inactive",
                  path.string(), error, aside.filename().string());
    return {};
}

}  // namespace tally::alerts

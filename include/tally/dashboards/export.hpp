#pragma once
// A dashboard's data (the answer of GET /api/v1/dashboards/<id>/data) as files people open
// elsewhere:
//   CSV   one section per widget: a line "# <title> (<type>)", a header, then its rows:
//         "series,timestamp,value" for series, "name,value" for breakdowns, "value" for a
//         single figure; an empty line between sections. Fields are quoted as RFC 4180 says.
//   XLSX  a workbook with one sheet per widget (named after its title, made unique and cut
//         to Excel's 31 characters), the same rows with timestamps as dates, written with
//         libxlsxwriter (Debian's libxlsxwriter-dev).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace tally::dashboards {

std::string data_csv(const nlohmann::json& data);

/// The workbook's bytes; nullopt (with `error`) when it cannot be written.
std::optional<std::string> data_xlsx(const nlohmann::json& data, std::string& error);

}  // namespace tally::dashboards

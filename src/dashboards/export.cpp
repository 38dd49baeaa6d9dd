#include "tally/dashboards/export.hpp"

#include <unistd.h>
#include <xlsxwriter.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "tally/base/time.hpp"

using nlohmann::json;

namespace tally::dashboards {

namespace {

std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos)
        return text;
    std::string out = "\"";
    for (char c : text) {
        if (c == '"')
            out += '"';
        out += c;
    }
    return out + "\"";
}

/// The shortest text that reads back as the same number ("3", not "3.0").
std::string number_text(const json& value) {
    if (!value.is_number())
        return {};
    char buffer[32];
    const auto end = std::to_chars(buffer, buffer + sizeof buffer, value.get<double>()).ptr;
    return std::string(buffer, end);
}

/// The widget's answers: ("current", data) and, when compared, ("previous", compare_data).
std::vector<std::pair<std::string, const json*>> periods(const json& widget) {
    std::vector<std::pair<std::string, const json*>> out = {{"current", &widget["data"]}};
    if (widget.contains("compare_data") && widget["compare_data"].is_object())
        out.emplace_back("previous", &widget["compare_data"]);
    return out;
}

void csv_section(std::ostringstream& out, const json& widget) {
    out << "# " << csv_field(widget.value("title", "") + " (" + widget.value("type", "") + ")")
        << "\r\n";
    const json& data = widget["data"];
    if (data.contains("error")) {
        out << "error\r\n" << csv_field(data["error"].get<std::string>()) << "\r\n";
        return;
    }
    if (data.contains("rows")) {
        out << "period,name,value\r\n";
        for (const auto& [period, answer] : periods(widget))
            for (const json& row : answer->value("rows", json::array()))
                out << period << ',' << csv_field(row["name"].get<std::string>()) << ','
                    << number_text(row["value"]) << "\r\n";
        return;
    }
    out << "period,series,timestamp,value\r\n";
    for (const auto& [period, answer] : periods(widget)) {
        out << period << ",total,," << number_text(answer->value("value", json())) << "\r\n";
        for (const json& series : answer->value("series", json::array()))
            for (const json& point : series["points"])
                out << period << ',' << csv_field(series["name"].get<std::string>()) << ','
                    << format_rfc3339_ms(point[0].get<std::int64_t>()) << ','
                    << number_text(point[1]) << "\r\n";
    }
}

/// A sheet name Excel accepts (at most 31 characters, none of []:*?/\), unique in `taken`.
std::string sheet_name(std::string title, std::set<std::string>& taken) {
    for (char& c : title) {
        if (std::string_view("[]:*?/\\").find(c) != std::string_view::npos || c < 32)
            c = ' ';
    }
    if (title.empty())
        title = "Widget";
    if (title.size() > 28)
        title.resize(28);
    // Do not end inside a UTF-8 sequence.
    while (!title.empty() && (static_cast<unsigned char>(title.back()) & 0xC0) == 0x80)
        title.pop_back();
    if (!title.empty() && (static_cast<unsigned char>(title.back()) & 0xC0) == 0xC0)
        title.pop_back();
    std::string name = title;
    for (int n = 2; taken.contains(name); ++n)
        name = title + " " + std::to_string(n);
    taken.insert(name);
    return name;
}

lxw_datetime to_datetime(std::int64_t ms) {
    const std::int64_t day = day_of(ms);
    int year = 0;
    unsigned month = 0, dom = 0;
    civil_from_days(day, year, month, dom);
    const std::int64_t in_day = ms - day * kMsPerDay;
    return {year,
            static_cast<int>(month),
            static_cast<int>(dom),
            static_cast<int>(in_day / 3'600'000),
            static_cast<int>(in_day / 60'000 % 60),
            static_cast<double>(in_day % 60'000) / 1000.0};
}

void write_number(lxw_worksheet* sheet, lxw_row_t row, lxw_col_t col, const json& value) {
    if (value.is_number())
        worksheet_write_number(sheet, row, col, value.get<double>(), nullptr);
}

void xlsx_sheet(lxw_workbook* book, const json& widget, std::set<std::string>& taken,
                lxw_format* date_format, lxw_format* bold) {
    lxw_worksheet* sheet =
        workbook_add_worksheet(book, sheet_name(widget.value("title", ""), taken).c_str());
    const json& data = widget["data"];
    lxw_row_t row = 0;
    if (data.contains("error")) {
        worksheet_write_string(sheet, 0, 0, data["error"].get<std::string>().c_str(), nullptr);
        return;
    }
    const bool rows = data.contains("rows");
    const char* headers[] = {"Period", rows ? "Name" : "Series", rows ? "Value" : "Time", "Value"};
    for (int c = 0; c < (rows ? 3 : 4); ++c)
        worksheet_write_string(sheet, 0, static_cast<lxw_col_t>(c), headers[c], bold);
    worksheet_set_column(sheet, 1, 2, 24, nullptr);
    for (const auto& [period, answer] : periods(widget)) {
        if (rows) {
            for (const json& r : answer->value("rows", json::array())) {
                worksheet_write_string(sheet, ++row, 0, period.c_str(), nullptr);
                worksheet_write_string(sheet, row, 1, r["name"].get<std::string>().c_str(),
                                       nullptr);
                write_number(sheet, row, 2, r["value"]);
            }
            continue;
        }
        worksheet_write_string(sheet, ++row, 0, period.c_str(), nullptr);
        worksheet_write_string(sheet, row, 1, "total", nullptr);
        write_number(sheet, row, 3, answer->value("value", json()));
        for (const json& series : answer->value("series", json::array())) {
            for (const json& point : series["points"]) {
                worksheet_write_string(sheet, ++row, 0, period.c_str(), nullptr);
                worksheet_write_string(sheet, row, 1, series["name"].get<std::string>().c_str(),
                                       nullptr);
                lxw_datetime when = to_datetime(point[0].get<std::int64_t>());
                worksheet_write_datetime(sheet, row, 2, &when, date_format);
                write_number(sheet, row, 3, point[1]);
            }
        }
    }
}

}  // namespace

std::string data_csv(const json& data) {
    std::ostringstream out;
    bool first = true;
    for (const json& widget : data.value("widgets", json::array())) {
        if (!first)
            out << "\r\n";
        first = false;
        csv_section(out, widget);
    }
    return out.str();
}

std::optional<std::string> data_xlsx(const json& data, std::string& error) {
    // libxlsxwriter 1.1.4 writes to a file: a private one in the temporary directory, read
    // back and removed.
    namespace fs = std::filesystem;
    const fs::path path =
        fs::temp_directory_path() / ("tally-export-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(std::random_device{}()) + ".xlsx");
    lxw_workbook* book = workbook_new(path.c_str());
    if (book == nullptr) {
        error = "cannot create " + path.string();
        return std::nullopt;
    }
    lxw_format* date_format = workbook_add_format(book);
    format_set_num_format(date_format, "yyyy-mm-dd hh:mm:ss");
    lxw_format* bold = workbook_add_format(book);
    format_set_bold(bold);
    std::set<std::string> taken;
    for (const json& widget : data.value("widgets", json::array()))
        xlsx_sheet(book, widget, taken, date_format, bold);
    if (taken.empty())
        workbook_add_worksheet(book, "Dashboard");
    const lxw_error status = workbook_close(book);
    std::string bytes;
    if (status == LXW_NO_ERROR) {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::error_code ec;
    fs::remove(path, ec);
    if (status != LXW_NO_ERROR || bytes.empty()) {
        error = std::string("writing the workbook failed: ") + lxw_strerror(status);
        return std::nullopt;
    }
    return bytes;
}

}  // namespace tally::dashboards

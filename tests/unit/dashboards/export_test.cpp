#include "tally/dashboards/export.hpp"

#include <gtest/gtest.h>

namespace tally::dashboards {
namespace {

using nlohmann::json;

json sample() {
    const json series = {
        {"series",
         {{{"name", "api.requests endpoint=/a"}, {"points", {{0, 1.5}, {60'000, nullptr}}}}}},
        {"value", 1.5}};
    const json rows = {{"rows", {{{"name", "/pricing, \"new\""}, {"value", 7}}}}};
    return {{"widgets",
             {{{"title", "Requests"}, {"type", "line_chart"}, {"data", series}},
              {{"title", "Pages"},
               {"type", "table"},
               {"data", rows},
               {"compare_data", {{"rows", {{{"name", "/old"}, {"value", 2}}}}}}},
              {{"title", "Broken"}, {"type", "number"}, {"data", {{"error", "no such metric"}}}}}}};
}

TEST(DataCsv, OneSectionPerWidgetQuotedAsRfc4180) {
    const std::string csv = data_csv(sample());
    EXPECT_EQ(csv,
              "# Requests (line_chart)\r\n"
              "period,series,timestamp,value\r\n"
              "current,total,,1.5\r\n"
              "current,api.requests endpoint=/a,1970-01-01T00:00:00Z,1.5\r\n"
              "current,api.requests endpoint=/a,1970-01-01T00:01:00Z,\r\n"
              "\r\n"
              "# Pages (table)\r\n"
              "period,name,value\r\n"
              "current,\"/pricing, \"\"new\"\"\",7\r\n"
              "previous,/old,2\r\n"
              "\r\n"
              "# Broken (number)\r\n"
              "error\r\n"
              "no such metric\r\n");
}

TEST(DataXlsx, AWorkbookWithASheetPerWidget) {
    std::string error;
    json data = sample();
    data["widgets"].push_back(
        {{"title", "Requests"}, {"type", "number"}, {"data", {{"value", 3}}}});
    data["widgets"].push_back({{"title", "a/b:c*d?[e] and a very long title that Excel cuts"},
                               {"type", "number"},
                               {"data", {{"value", 3}}}});
    const auto bytes = data_xlsx(data, error);
    ASSERT_TRUE(bytes) << error;
    ASSERT_GT(bytes->size(), 1000u);
    EXPECT_EQ(bytes->substr(0, 2), "PK");  // a zip container, as OOXML is
    // A zip keeps its member names uncompressed: one sheet per widget. (The sheet names
    // are compressed inside xl/workbook.xml; the integration test reads them with a real
    // reader.)
    EXPECT_NE(bytes->find("xl/worksheets/sheet5.xml"), std::string::npos);
    EXPECT_EQ(bytes->find("xl/worksheets/sheet6.xml"), std::string::npos);
}

}  // namespace
}  // namespace tally::dashboards

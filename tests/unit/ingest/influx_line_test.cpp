// InfluxDB line protocol -> metric points: escapes, field types, precisions, and the first
// bad line stopping the parse with the good lines before it standing.

#include "tally/ingest/influx_line.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tally/ingest/metric_rules.hpp"

namespace tally::ingest {
namespace {

constexpr std::int64_t kNow = 1705314600000;  // 2024-01-15T10:30:00Z

struct Parsed {
    InfluxResult result;
    std::vector<MetricPoint> points;
};

Parsed parse(std::string_view body, InfluxPrecision precision = InfluxPrecision::ns) {
    Parsed parsed;
    parsed.result = parse_influx_lines(body, precision, kNow, parsed.points);
    return parsed;
}

TEST(InfluxLineTest, FieldsBecomeGaugesWithTheLineTags) {
    const Parsed parsed =
        parse("cpu,host=web1,region=eu usage_user=12.5,usage_system=3i 1705314600000000000");
    ASSERT_FALSE(parsed.result.error) << *parsed.result.error;
    EXPECT_EQ(parsed.result.lines, 1u);
    ASSERT_EQ(parsed.points.size(), 2u);
    EXPECT_EQ(parsed.points[0].name, "cpu.usage_user");
    EXPECT_EQ(parsed.points[1].name, "cpu.usage_system");
    for (const MetricPoint& point : parsed.points) {
        EXPECT_EQ(point.type, MetricType::gauge);
        EXPECT_EQ(point.timestamp_ms, kNow);
        ASSERT_EQ(point.tags.size(), 2u);
        EXPECT_EQ(point.tags[0], (MetricTag{"host", "web1"}));
        EXPECT_EQ(point.tags[1], (MetricTag{"region", "eu"}));
        EXPECT_FALSE(validate_metric_point(point, kNow));
    }
    EXPECT_DOUBLE_EQ(parsed.points[0].value, 12.5);
    EXPECT_DOUBLE_EQ(parsed.points[1].value, 3);
}

struct BadName {
    const char* line;
    const char* name;  // as quoted in the message
};

struct ValueCase {
    const char* field;
    double value;
};

TEST(InfluxLineTest, NumericForms) {
    const ValueCase cases[] = {{"1.5", 1.5},     {"1e3", 1000}, {"-2.5", -2.5},
                               {"42i", 42},      {"-42i", -42}, {"7u", 7},
                               {"2.5E-1", 0.25}, {"0", 0},      {"1E+2", 100}};
    for (const ValueCase& c : cases) {
        SCOPED_TRACE(c.field);
        const Parsed parsed = parse(std::string("m v=") + c.field);
        ASSERT_FALSE(parsed.result.error) << *parsed.result.error;
        ASSERT_EQ(parsed.points.size(), 1u);
        EXPECT_DOUBLE_EQ(parsed.points[0].value, c.value);
    }
}

TEST(InfluxLineTest, StringsAndBooleansAreSkipped) {
    const Parsed parsed = parse(
        "m a=\"text, with = and \\\" quote\",b=t,c=TRUE,d=false,e=F,f=2,g=\"x\\\\\" 1705314600000",
        InfluxPrecision::ms);
    ASSERT_FALSE(parsed.result.error) << *parsed.result.error;
    ASSERT_EQ(parsed.points.size(), 1u);
    EXPECT_EQ(parsed.points[0].name, "m.f");
    EXPECT_EQ(parsed.points[0].timestamp_ms, kNow);
}

TEST(InfluxLineTest, LineWithOnlyNonNumericFieldsIsGoodAndEmpty) {
    const Parsed parsed = parse("status,host=a up=true,msg=\"ok\"\nm v=1");
    ASSERT_FALSE(parsed.result.error) << *parsed.result.error;
    EXPECT_EQ(parsed.result.lines, 2u);
    ASSERT_EQ(parsed.points.size(), 1u);
    EXPECT_EQ(parsed.points[0].name, "m.v");
}

// Escaped ',' ' ' '=' in measurements, tag keys and field keys unescape to characters a
// metric name or tag key cannot hold, so they show in the message of the bad line.
TEST(InfluxLineTest, EscapesInNamesUnescape) {
    const BadName cases[] = {
        {"my\\,meas\\ x,k=v f=1", "\"my,meas x.f\""},
        {"m,k=v fi\\=e\\,l\\ d=1", "\"m.fi=e,l d\""},
        {"m,ta\\ g\\,\\=x=v f=1", "\"ta g,=x\""},
        {"m\\=x f=1", "\"m\\=x.f\""},  // '=' is not escaped in a measurement
    };
    for (const BadName& c : cases) {
        SCOPED_TRACE(c.line);
        const Parsed parsed = parse(c.line);
        ASSERT_TRUE(parsed.result.error);
        EXPECT_NE(parsed.result.error->find(c.name), std::string::npos) << *parsed.result.error;
    }
}

TEST(InfluxLineTest, EscapedTagValuesUnescape) {
    const Parsed parsed = parse("mx,k=va\\,l\\=u\\ e\\x,k2=\\\"q field_1=2");
    ASSERT_FALSE(parsed.result.error) << *parsed.result.error;
    ASSERT_EQ(parsed.points.size(), 1u);
    EXPECT_EQ(parsed.points[0].tags[0], (MetricTag{"k", "va,l=u e\\x"}));
    EXPECT_EQ(parsed.points[0].tags[1], (MetricTag{"k2", "\\\"q"}));
}

TEST(InfluxLineTest, EachPrecision) {
    struct Case {
        InfluxPrecision precision;
        const char* timestamp;
    };
    const Case cases[] = {
        {InfluxPrecision::ns, "1705314000123456789"},
        {InfluxPrecision::us, "1705314000123456"},
        {InfluxPrecision::ms, "1705314000123"},
        {InfluxPrecision::s, "1705314000"},
        {InfluxPrecision::m, "28421900"},
        {InfluxPrecision::h, "473698"},
    };
    const std::int64_t expected[] = {1705314000123, 1705314000123, 1705314000123,
                                     1705314000000, 1705314000000, 1705312800000};
    for (std::size_t i = 0; i < std::size(cases); ++i) {
        SCOPED_TRACE(cases[i].timestamp);
        const Parsed parsed = parse(std::string("m v=1 ") + cases[i].timestamp, cases[i].precision);
        ASSERT_FALSE(parsed.result.error) << *parsed.result.error;
        ASSERT_EQ(parsed.points.size(), 1u);
        EXPECT_EQ(parsed.points[0].timestamp_ms, expected[i]);
    }
}

TEST(InfluxLineTest, ParsePrecision) {
    EXPECT_EQ(parse_precision("ns"), InfluxPrecision::ns);
    EXPECT_EQ(parse_precision("n"), InfluxPrecision::ns);
    EXPECT_EQ(parse_precision("us"), InfluxPrecision::us);
    EXPECT_EQ(parse_precision("u"), InfluxPrecision::us);
    EXPECT_EQ(parse_precision("ms"), InfluxPrecision::ms);
    EXPECT_EQ(parse_precision("s"), InfluxPrecision::s);
    EXPECT_EQ(parse_precision("m"), InfluxPrecision::m);
    EXPECT_EQ(parse_precision("h"), InfluxPrecision::h);
    EXPECT_FALSE(parse_precision(""));
    EXPECT_FALSE(parse_precision("NS"));
    EXPECT_FALSE(parse_precision("d"));
}

TEST(InfluxLineTest, MissingTimestampIsNow) {
    const Parsed parsed = parse("m,host=a v=1   ");
    ASSERT_FALSE(parsed.result.error) << *parsed.result.error;
    ASSERT_EQ(parsed.points.size(), 1u);
    EXPECT_EQ(parsed.points[0].timestamp_ms, kNow);
}

TEST(InfluxLineTest, CommentsEmptyLinesCrLfAndTrailingNewline) {
    const Parsed parsed = parse("# a comment\r\n\r\nm v=1\r\n  # indented comment\n\nm w=2i\n");
    ASSERT_FALSE(parsed.result.error) << *parsed.result.error;
    EXPECT_EQ(parsed.result.lines, 2u);
    ASSERT_EQ(parsed.points.size(), 2u);
    EXPECT_EQ(parsed.points[1].name, "m.w");
}

struct BadCase {
    const char* line;
    const char* why;
};

TEST(InfluxLineTest, FirstBadLineStopsTheGoodBeforeItStand) {
    const BadCase cases[] = {
        {"m", "no fields"},
        {"m,host=a", "no fields"},
        {"m ", "no fields"},
        {",t=1 v=1", "no measurement"},
        {"m,host v=1", "no '='"},
        {"m,host= v=1", "empty key or value"},
        {"m,=a v=1", "empty key or value"},
        {"m v", "no '='"},
        {"m =1", "empty key"},
        {"m v=", "empty value"},
        {"m v=abc", "not a number"},
        {"m v=1.5i", "not a number"},
        {"m v=-1u", "not a number"},
        {"m v=99999999999999999999i", "not a number"},
        {"m v=nan", "not a number"},
        {"m v=inf", "not a number"},
        {"m v=\"open", "no closing quote"},
        {"m v=1 abc", "not an integer"},
        {"m v=1 1 2", "unexpected text"},
        {"m v=1 1000", "within the last 48 hours"},
        {"m v=1 9223372036854775807", "within the last 48 hours"},
        {"my/meas v=1", "metric name"},
        {"m,1k=a v=1", "tag key"},
        {"m,k=a,k=b v=1", "more than once"},
        {"m,a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1,l=1,m=1,n=1,o=1,p=1,q=1 v=1",
         "at most 16 tags"},
    };
    for (const BadCase& c : cases) {
        SCOPED_TRACE(c.line);
        const Parsed parsed =
            parse(std::string("good.a v=1\n# note\ngood.b v=2,w=3\n") + c.line + "\ngood.c v=4\n");
        ASSERT_TRUE(parsed.result.error);
        EXPECT_EQ(parsed.result.error->rfind("line 4: ", 0), 0u) << *parsed.result.error;
        EXPECT_NE(parsed.result.error->find(c.why), std::string::npos) << *parsed.result.error;
        EXPECT_EQ(parsed.result.lines, 2u);
        ASSERT_EQ(parsed.points.size(), 3u);
        EXPECT_EQ(parsed.points[2].name, "good.b.w");
    }
}

TEST(InfluxLineTest, BadSecondLine) {
    const Parsed parsed = parse("m v=1\nm v=x\nm v=3");
    ASSERT_TRUE(parsed.result.error);
    EXPECT_EQ(parsed.result.error->rfind("line 2: ", 0), 0u) << *parsed.result.error;
    EXPECT_EQ(parsed.points.size(), 1u);
}

TEST(InfluxLineTest, SecondsPrecisionOverflowIsBad) {
    const Parsed parsed = parse("m v=1 9223372036854775807", InfluxPrecision::s);
    ASSERT_TRUE(parsed.result.error);
    EXPECT_NE(parsed.result.error->find("out of range"), std::string::npos);
}

TEST(InfluxLineTest, OutputIsOverwritten) {
    std::vector<MetricPoint> points;
    parse_influx_lines("m,k=v a=1,b=2,c=3", InfluxPrecision::ns, kNow, points);
    ASSERT_EQ(points.size(), 3u);
    parse_influx_lines("n x=5", InfluxPrecision::ns, kNow, points);
    ASSERT_EQ(points.size(), 1u);
    EXPECT_EQ(points[0].name, "n.x");
    EXPECT_TRUE(points[0].tags.empty());
}

}  // namespace
}  // namespace tally::ingest

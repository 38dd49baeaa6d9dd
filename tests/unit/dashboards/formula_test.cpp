#include "tally/dashboards/formula.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tally::dashboards {
namespace {

Formula parsed(const std::string& text) {
    auto result = Formula::parse(text);
    if (auto* error = std::get_if<FormulaError>(&result))
        ADD_FAILURE() << text << ": " << error->message;
    return std::get<Formula>(std::move(result));
}

std::optional<double> eval(const std::string& text, std::vector<std::optional<double>> values) {
    return parsed(text).evaluate(values);
}

TEST(Formula, PrecedenceAndAssociativity) {
    EXPECT_EQ(eval("1 + 2 * 3", {}), 7);
    EXPECT_EQ(eval("(1 + 2) * 3", {}), 9);
    EXPECT_EQ(eval("10 - 4 - 3", {}), 3);  // left to right
    EXPECT_EQ(eval("64 / 4 / 2", {}), 8);
    EXPECT_EQ(eval("-2 * -3", {}), 6);
    EXPECT_EQ(eval("- (1 + 2)", {}), -3);
    EXPECT_EQ(eval("2.5e2 + .5", {}), 250.5);
    EXPECT_EQ(eval("((((7))))", {}), 7);
}

TEST(Formula, NamesAreListedOnceInOrderOfFirstUse) {
    const Formula f = parsed("errors / requests * 100 + errors");
    EXPECT_EQ(f.names(), (std::vector<std::string>{"errors", "requests"}));
    EXPECT_EQ(f.evaluate(std::vector<std::optional<double>>{5.0, 200.0}), 7.5);
}

TEST(Formula, AbsentValuesAndDivisionByZeroGiveNoValue) {
    EXPECT_EQ(eval("a / b", {1.0, 0.0}), std::nullopt);
    EXPECT_EQ(eval("a / b", {std::nullopt, 2.0}), std::nullopt);
    EXPECT_EQ(eval("a + 1", {}), std::nullopt);               // no value supplied for a
    EXPECT_EQ(eval("a * 1e308 * 10", {10.0}), std::nullopt);  // overflow: not finite
    EXPECT_EQ(eval("0 / a", {5.0}), 0);
}

TEST(Formula, MalformedTextIsRefusedWithItsPosition) {
    EXPECT_TRUE(std::holds_alternative<FormulaError>(Formula::parse("")));
    EXPECT_TRUE(std::holds_alternative<FormulaError>(Formula::parse("  ")));
    for (const char* text :
         {"1 +", "(1 + 2", "1 + 2)", "a b", "1..2", "3 $ 4", "*2", "1e", "a(1)"}) {
        const auto result = Formula::parse(text);
        ASSERT_TRUE(std::holds_alternative<FormulaError>(result)) << text;
        EXPECT_NE(std::get<FormulaError>(result).message.find("position"), std::string::npos)
            << text << ": " << std::get<FormulaError>(result).message;
    }
    const auto unclosed = std::get<FormulaError>(Formula::parse("2 * (a + b"));
    EXPECT_EQ(unclosed.offset, 4u);  // points at the '(' never closed
}

TEST(Formula, DepthAndLengthAreBounded) {
    std::string deep(100, '(');
    deep += "1" + std::string(100, ')');
    EXPECT_TRUE(std::holds_alternative<FormulaError>(Formula::parse(deep)));
    std::string negations(100, '-');
    EXPECT_TRUE(std::holds_alternative<FormulaError>(Formula::parse(negations + "1")));
    std::string shallow(20, '(');
    shallow += "1" + std::string(20, ')');
    EXPECT_EQ(eval(shallow, {}), 1);
    std::string long_sum = "1";
    while (long_sum.size() < 1100)
        long_sum += " + 1";
    EXPECT_TRUE(std::holds_alternative<FormulaError>(Formula::parse(long_sum)));
}

TEST(Formula, LongProgramsEvaluateBeyondTheInlineStack) {
    // 200 terms nest to the right: the evaluation stack grows past its inline room.
    std::string text = "1";
    for (int i = 0; i < 30; ++i)
        text = "1 + (" + text + ")";
    EXPECT_EQ(eval(text, {}), 31);
    std::string flat = "a";
    for (int i = 0; i < 199; ++i)
        flat += " + a";
    EXPECT_EQ(eval(flat, {2.0}), 400);
}

}  // namespace
}  // namespace tally::dashboards

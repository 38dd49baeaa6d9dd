#pragma once
// A widget's formula over named queries: "errors / requests * 100".
//
// Grammar (the usual precedence, left to right within a level):
//
//   expression := term (("+" | "-") term)*
//   term       := factor (("*" | "/") factor)*
//   factor     := number | name | "(" expression ")" | "-" factor
//   name       := [A-Za-z_][A-Za-z0-9_]*
//   number     := digits ["." digits] [("e" | "E") ["+" | "-"] digits]
//
// The text is parsed once into a postfix program, then evaluated at every point of the
// widget's series with the named queries' values at that point. An absent value (an empty
// window) makes the result absent, and so does a division by zero: a chart shows a gap,
// never an infinity. Parsing is bounded: at most kMaxFormulaBytes of text and
// kMaxFormulaDepth nested parentheses or signs, so no input can exhaust the stack.
// Evaluation costs one pass over the program, with a stack no deeper than the program.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tally::dashboards {

inline constexpr std::size_t kMaxFormulaBytes = 1024;
inline constexpr int kMaxFormulaDepth = 32;

struct FormulaError {
    std::string message;  // one sentence, naming the position
    std::size_t offset = 0;
};

class Formula {
  public:
    /// The formula, or why the text is not one.
    static std::variant<Formula, FormulaError> parse(std::string_view text);

    /// The names the formula reads, each once, in order of first use.
    const std::vector<std::string>& names() const { return names_; }

    /// The value with `values[i]` standing for names()[i]; nullopt when a value it needs is
    /// absent, on a division by zero, or when the result is not finite.
    std::optional<double> evaluate(std::span<const std::optional<double>> values) const;

  private:
    enum class Op : unsigned char { number, name, add, subtract, multiply, divide, negate };
    struct Step {
        Op op;
        double number = 0;      // Op::number
        std::size_t index = 0;  // Op::name: into names_
    };
    friend class FormulaParser;

    std::vector<Step> program_;  // postfix
    std::vector<std::string> names_;
};

}  // namespace tally::dashboards

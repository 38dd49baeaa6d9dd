#include "tally/dashboards/formula.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace tally::dashboards {

namespace {

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

/// Recursive descent over the grammar in the header, emitting postfix steps as it goes.
class FormulaParser {
  public:
    explicit FormulaParser(std::string_view text) : text_(text) {}

    std::variant<Formula, FormulaError> run() {
        if (text_.size() > kMaxFormulaBytes)
            return FormulaError{"formula is longer than 1024 bytes", kMaxFormulaBytes};
        skip_space();
        if (at_end())
            return FormulaError{"formula is empty", 0};
        if (!expression(0))
            return std::move(error_);
        if (!at_end())
            return fail("unexpected '" + std::string(1, text_[pos_]) + "'");
        return std::move(formula_);
    }

  private:
    bool expression(int depth) {
        if (!term(depth))
            return false;
        while (peek('+') || peek('-')) {
            const Formula::Op op = text_[pos_] == '+' ? Formula::Op::add : Formula::Op::subtract;
            advance();
            if (!term(depth))
                return false;
            emit(op);
        }
        return true;
    }

    bool term(int depth) {
        if (!factor(depth))
            return false;
        while (peek('*') || peek('/')) {
            const Formula::Op op = text_[pos_] == '*' ? Formula::Op::multiply : Formula::Op::divide;
            advance();
            if (!factor(depth))
                return false;
            emit(op);
        }
        return true;
    }

    bool factor(int depth) {
        if (depth >= kMaxFormulaDepth)
            return fail_bool("formula nests deeper than 32 levels");
        if (at_end())
            return fail_bool("formula ends where a number, a name or '(' was expected");
        const char c = text_[pos_];
        if (c == '-') {
            advance();
            if (!factor(depth + 1))
                return false;
            emit(Formula::Op::negate);
            return true;
        }
        if (c == '(') {
            const std::size_t open = pos_;
            advance();
            if (!expression(depth + 1))
                return false;
            if (!peek(')')) {
                pos_ = open;
                return fail_bool("'(' is never closed");
            }
            advance();
            return true;
        }
        if (is_digit(c) || c == '.')
            return number();
        if (is_name_start(c))
            return name();
        return fail_bool("unexpected '" + std::string(1, c) + "'");
    }

    bool number() {
        const std::size_t start = pos_;
        while (pos_ < text_.size() && (is_digit(text_[pos_]) || text_[pos_] == '.'))
            ++pos_;
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
                ++pos_;
            while (pos_ < text_.size() && is_digit(text_[pos_]))
                ++pos_;
        }
        double value = 0;
        const char* first = text_.data() + start;
        const char* last = text_.data() + pos_;
        const auto [end, ec] = std::from_chars(first, last, value);
        if (ec != std::errc() || end != last || !std::isfinite(value)) {
            pos_ = start;
            return fail_bool("malformed number");
        }
        formula_.program_.push_back({Formula::Op::number, value, 0});
        skip_space();
        return true;
    }

    bool name() {
        const std::size_t start = pos_;
        while (pos_ < text_.size() && is_name_char(text_[pos_]))
            ++pos_;
        const std::string_view word = text_.substr(start, pos_ - start);
        auto& names = formula_.names_;
        const auto it = std::find(names.begin(), names.end(), word);
        const std::size_t index = static_cast<std::size_t>(it - names.begin());
        if (it == names.end())
            names.emplace_back(word);
        formula_.program_.push_back({Formula::Op::name, 0, index});
        skip_space();
        return true;
    }

    void emit(Formula::Op op) { formula_.program_.push_back({op, 0, 0}); }
    bool at_end() const { return pos_ >= text_.size(); }
    bool peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
    void advance() {
        ++pos_;
        skip_space();
    }
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t'))
            ++pos_;
    }
    FormulaError fail(const std::string& what) const {
        return {what + " at position " + std::to_string(pos_ + 1), pos_};
    }
    bool fail_bool(const std::string& what) {
        error_ = fail(what);
        return false;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    Formula formula_;
    FormulaError error_;
};

std::variant<Formula, FormulaError> Formula::parse(std::string_view text) {
    return FormulaParser(text).run();
}

std::optional<double> Formula::evaluate(std::span<const std::optional<double>> values) const {
    // The program is postfix and was produced by the parser, so the stack never underflows
    // and ends holding exactly one value. Small formulas, the common case, stay on the
    // stack of this function.
    constexpr std::size_t kInline = 32;
    double inline_stack[kInline] = {};
    std::vector<double> heap_stack;
    double* stack = inline_stack;
    if (program_.size() > kInline) {
        heap_stack.resize(program_.size());
        stack = heap_stack.data();
    }
    std::size_t top = 0;
    for (const Step& step : program_) {
        switch (step.op) {
            case Op::number:
                stack[top++] = step.number;
                break;
            case Op::name:
                if (step.index >= values.size() || !values[step.index])
                    return std::nullopt;
                stack[top++] = *values[step.index];
                break;
            case Op::negate:
                stack[top - 1] = -stack[top - 1];
                break;
            default: {
                const double right = stack[--top];
                double& left = stack[top - 1];
                if (step.op == Op::add)
                    left += right;
                else if (step.op == Op::subtract)
                    left -= right;
                else if (step.op == Op::multiply)
                    left *= right;
                else if (right == 0)
                    return std::nullopt;
                else
                    left /= right;
            }
        }
    }
    if (top != 1 || !std::isfinite(stack[0]))
        return std::nullopt;
    return stack[0];
}

}  // namespace tally::dashboards

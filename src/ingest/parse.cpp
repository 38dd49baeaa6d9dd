// The entry points of parsing (parse.hpp): a page view or custom event body, and batches
// (a JSON array or NDJSON), each read by the JSON layer (json_fields.cpp) and built by the
// rules (rules.cpp); and ParseBuffers, the parser state a thread keeps between calls.

#include "tally/ingest/parse.hpp"

#include <algorithm>

#include "json_fields.hpp"

namespace tally::ingest {

using namespace detail;

namespace {

void add_batch_item(std::size_t index, Check error, Event&& event, BatchResult& out) {
    if (error) {
        out.rejected.push_back(BatchItemRejection{index, std::move(*error)});
    } else {
        out.accepted.push_back(std::move(event));
    }
}

Rejection too_many_items() {
    return Rejection{"too_large", "", "batch holds at most 1000 items"};
}

// A JSON array of items. The whole body must be valid JSON, so items are built as they are
// read and dropped again if a flaw turns up further on. Past kMaxBatchItems the rest is
// only validated: a malformed body is bad_json whatever its length.
Check parse_array_batch(od::parser& parser, Padded text, const RequestContext& ctx,
                        const VisitorHasher& hasher, BatchResult& out) {
    const std::string_view view = strip_bom(text.view());
    od::document document;
    od::json_type type;
    if (parser.iterate(view.data(), view.size(), text.capacity - (text.size - view.size()))
            .get(document) ||
        document.type().get(type)) {
        return bad_json("the body is not valid JSON");
    }
    if (type != od::json_type::array) {
        return bad_json("the batch must be a JSON array or NDJSON");
    }
    od::array array;
    std::size_t index = 0;
    const auto read_items = [&]() -> error_code {
        SIMDJSON_TRY(document.get_array().get(array));
        for (auto result : array) {
            od::value item;
            SIMDJSON_TRY(result.get(item));
            od::json_type item_type;
            SIMDJSON_TRY(item.type().get(item_type));
            if (index >= kMaxBatchItems || item_type != od::json_type::object) {
                SIMDJSON_TRY(walk(item, nullptr, 1));
                if (index < kMaxBatchItems) {
                    add_batch_item(index, bad_json("the item must be a JSON object"), Event(), out);
                }
            } else {
                od::object object;
                SIMDJSON_TRY(item.get_object().get(object));
                RawItem raw;
                SIMDJSON_TRY(read_fields(object, raw));
                Event event;
                add_batch_item(index, build_batch_item(raw, ctx, hasher, event), std::move(event),
                               out);
            }
            ++index;
        }
        return simdjson::SUCCESS;
    };
    const char* trailing = nullptr;
    if (read_items() || !document.current_location().get(trailing)) {
        out.accepted.clear();
        out.rejected.clear();
        return bad_json("the body is not valid JSON");
    }
    if (index > kMaxBatchItems) {
        out.accepted.clear();
        out.rejected.clear();
        return too_many_items();
    }
    return std::nullopt;
}

// NDJSON: one object per non-empty line, each line its own document, so a malformed line
// costs only its own item. Lines are found (and counted) before any is parsed: an
// oversized batch costs no parsing and accepts nothing.
Check parse_ndjson_batch(od::parser& parser, Padded text, const RequestContext& ctx,
                         const VisitorHasher& hasher, BatchResult& out) {
    const std::string_view body = text.view();
    std::vector<std::string_view> lines;
    for (std::size_t start = 0; start < body.size();) {
        std::size_t end = body.find('\n', start);
        if (end == std::string_view::npos) {
            end = body.size();
        }
        const std::string_view line = body.substr(start, end - start);
        start = end + 1;
        if (std::all_of(line.begin(), line.end(), is_json_space)) {
            continue;
        }
        if (lines.size() == kMaxBatchItems) {
            return too_many_items();
        }
        lines.push_back(line);
    }
    out.accepted.reserve(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        // Each line is parsed in place: the padding after the body covers the last one,
        // and the '\n' after every other line ends any token before the next line starts.
        const auto offset = static_cast<std::size_t>(lines[i].data() - text.data);
        RawItem raw;
        Event event;
        Check error = read_object(parser, lines[i].data(), lines[i].size(), text.capacity - offset,
                                  raw, "item");
        if (!error) {
            error = build_batch_item(raw, ctx, hasher, event);
        }
        add_batch_item(i, std::move(error), std::move(event), out);
    }
    return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// ParseBuffers (its Impl is in json_fields.hpp, shared with metric_json.cpp)

ParseBuffers::ParseBuffers() : impl_(std::make_unique<Impl>()) {}
ParseBuffers::~ParseBuffers() = default;
ParseBuffers::ParseBuffers(ParseBuffers&&) noexcept = default;
ParseBuffers& ParseBuffers::operator=(ParseBuffers&&) noexcept = default;

namespace {

template <typename Build>
Check parse_one(std::string_view body, const RequestContext& ctx, const VisitorHasher& hasher,
                Event& out, ParseBuffers::Impl& buffers, Build build) {
    const Padded text = buffers.pad(body);
    RawItem raw;
    Check error = read_object(buffers.parser, text.data, text.size, text.capacity, raw, "body");
    if (!error) {
        error = build(raw, ctx, hasher, out);  // before the buffers go: raw points into them
    }
    buffers.release_if_big();
    return error;
}

Check parse_batch_with(std::string_view body, const RequestContext& ctx,
                       const VisitorHasher& hasher, BatchResult& out, ParseBuffers::Impl& buffers) {
    out.accepted.clear();
    out.rejected.clear();
    const Padded text = buffers.pad(body);
    const std::string_view view = strip_bom(text.view());
    const std::size_t first = view.find_first_not_of(" \t\n\r");
    Check error = first != std::string_view::npos && view[first] == '{'
                      ? parse_ndjson_batch(buffers.parser, text, ctx, hasher, out)
                      : parse_array_batch(buffers.parser, text, ctx, hasher, out);
    buffers.release_if_big();
    return error;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Public API

std::optional<Rejection> parse_pageview(std::string_view body, const RequestContext& ctx,
                                        const VisitorHasher& hasher, Event& out) {
    ParseBuffers::Impl buffers;
    return parse_one(body, ctx, hasher, out, buffers, build_pageview);
}

std::optional<Rejection> parse_pageview(std::string_view body, const RequestContext& ctx,
                                        const VisitorHasher& hasher, Event& out,
                                        ParseBuffers& buffers) {
    return parse_one(body, ctx, hasher, out, buffers.impl(), build_pageview);
}

std::optional<Rejection> parse_custom_event(std::string_view body, const RequestContext& ctx,
                                            const VisitorHasher& hasher, Event& out) {
    ParseBuffers::Impl buffers;
    return parse_one(body, ctx, hasher, out, buffers, build_custom_event);
}

std::optional<Rejection> parse_custom_event(std::string_view body, const RequestContext& ctx,
                                            const VisitorHasher& hasher, Event& out,
                                            ParseBuffers& buffers) {
    return parse_one(body, ctx, hasher, out, buffers.impl(), build_custom_event);
}

std::optional<Rejection> parse_batch(std::string_view body, const RequestContext& ctx,
                                     const VisitorHasher& hasher, BatchResult& out) {
    ParseBuffers::Impl buffers;
    return parse_batch_with(body, ctx, hasher, out, buffers);
}

std::optional<Rejection> parse_batch(std::string_view body, const RequestContext& ctx,
                                     const VisitorHasher& hasher, BatchResult& out,
                                     ParseBuffers& buffers) {
    return parse_batch_with(body, ctx, hasher, out, buffers.impl());
}

}  // namespace tally::ingest

#pragma once
// Why an input was refused: what ingest returns, what the client is answered, what the
// rejects log keeps and what the rejection counters are labelled with.

#include <cstddef>
#include <string>

namespace tally {

/// `reason` is a short stable code used as the Prometheus label and in the rejects log
/// ("bad_json", "missing_field", "invalid_field", "out_of_window", "too_large", ...);
/// `field` names the offending field ("" for the body).
struct Rejection {
    std::string reason;
    std::string field;
    std::string message;  // one human sentence, sent as {"error": message, "field": field}
};

/// One refused item of a batch, by its index in the body.
struct BatchItemRejection {
    std::size_t index = 0;
    Rejection rejection;
};

}  // namespace tally

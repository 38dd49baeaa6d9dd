#pragma once
// Metrics Tally keeps from the events it already counts, as ordinary series tagged with
// the site:
//
//   pageviews.count           counter, one per page view
//   events.<name>.count       counter, one per custom event of that name
//   users.active              set of visitor ids
//
// and the config's metrics.derive rules, which turn custom events into metrics: an event
// named `event` gives a point of `metric` with the numeric property `value` as its value
// (without `value`: a counter of 1) and the properties listed in `tags` as tags.
//
// These points are not logged: they follow from logged events, so replaying the events
// rebuilds them. An event whose rule's value property is missing or not a number, or whose
// tag would be invalid, gives no point for that rule (the event itself still counts).

#include <string>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/base/metric_point.hpp"

namespace tally::metrics {

struct DeriveRule {
    std::string event;
    std::string metric;
    MetricType type = MetricType::count;
    std::string value;              // property holding the value; "" = a counter of 1
    std::vector<std::string> tags;  // properties that become tags
};

class Derivations {
  public:
    explicit Derivations(std::vector<DeriveRule> rules = {});

    /// Appends to `out` the points `event` makes (out is not cleared).
    void points_of(const Event& event, std::vector<MetricPoint>& out) const;

  private:
    void rule_point(const DeriveRule& rule, const Event& event,
                    std::vector<MetricPoint>& out) const;

    std::vector<DeriveRule> rules_;
};

}  // namespace tally::metrics

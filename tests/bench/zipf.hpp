#pragma once
// The benchmark programs' page popularity: rank k (0-based) of n is drawn with probability
// proportional to 1/(k+1), by a binary search of the cumulative weights (one uniform draw).

#include <algorithm>
#include <random>
#include <vector>

namespace tally::bench {

class Zipf {
  public:
    explicit Zipf(int n) {
        double sum = 0;
        for (int i = 1; i <= n; ++i) {
            sum += 1.0 / i;
            cdf_.push_back(sum);
        }
        for (double& c : cdf_)
            c /= sum;
    }

    template <typename Rng>
    int operator()(Rng& rng) const {
        const double u = std::uniform_real_distribution<double>(0, 1)(rng);
        return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
    }

  private:
    std::vector<double> cdf_;
};

}  // namespace tally::bench

#include "support/tallyd.hpp"

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tally::test {

std::string tallyd_path() {
#ifdef TALLY_TALLYD_PATH
    return TALLY_TALLYD_PATH;
#else
    return "tallyd";
#endif
}

Tallyd::Tallyd(std::vector<std::string> extra_args, Process::ChildSetup child_setup)
    : extra_args_(std::move(extra_args)), child_setup_(std::move(child_setup)) {
    data_dir_ = dir_.path() + "/data";
    log_path_ = dir_.path() + "/tallyd.log";
    port_ = free_port();
    start();
}

Tallyd::~Tallyd() {
    if (process_)
        process_->stop(9, std::chrono::seconds(5));
}

void Tallyd::start() {
    std::vector<std::string> argv = {tallyd_path(),
                                     "--listen",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "--data-dir",
                                     data_dir_,
                                     "--web-root",
                                     std::string(TALLY_SOURCE_DIR) + "/web",
                                     "--threads",
                                     "2"};
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    process_ = std::make_unique<Process>(argv, log_path_, child_setup_);
    if (!wait_for_port(port_, std::chrono::seconds(20))) {
        throw std::runtime_error("tallyd did not listen on port " + std::to_string(port_) + ":\n" +
                                 log_text());
    }
}

int Tallyd::stop(int signal) {
    if (!process_)
        return -1;
    const int status = process_->stop(signal, std::chrono::seconds(15));
    return status;
}

void Tallyd::restart() {
    if (process_ && process_->running())
        stop();
    start();
}

std::string Tallyd::log_text() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace tally::test

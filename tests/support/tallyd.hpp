#pragma once
// Starts the real tallyd for a test: a free loopback port, its own data dir (kept across
// restart() so durability can be checked), logs in the data dir's parent, always stopped.

#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace tally::test {

class Tallyd {
  public:
    /// Starts tallyd with `extra_args` and waits until it listens. The data dir is created
    /// under a TempDir owned by this object.
    explicit Tallyd(std::vector<std::string> extra_args = {},
                    Process::ChildSetup child_setup = nullptr);
    ~Tallyd();

    int port() const { return port_; }
    pid_t pid() const { return process_ ? process_->pid() : -1; }
    /// What restart() runs in the child from now on (nullptr: nothing).
    void set_child_setup(Process::ChildSetup setup) { child_setup_ = std::move(setup); }
    const std::string& data_dir() const { return data_dir_; }
    const std::string& log_path() const { return log_path_; }
    std::string log_text() const;

    /// SIGTERM and wait; returns the exit status.
    int stop(int signal = 15);
    /// Starts again on the same port and data dir.
    void restart();
    bool running() { return process_ && process_->running(); }

  private:
    void start();

    TempDir dir_;
    std::vector<std::string> extra_args_;
    Process::ChildSetup child_setup_;
    std::string data_dir_;
    std::string log_path_;
    int port_ = 0;
    std::unique_ptr<Process> process_;
};

/// The tallyd binary under test.
std::string tallyd_path();

}  // namespace tally::test

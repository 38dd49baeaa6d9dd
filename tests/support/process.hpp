#pragma once
// Child processes for tests: start a real program (tallyd, redis-server) on a free loopback
// port, wait until it listens, and always end it, even when the test fails.

#include <sys/types.h>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tally::test {

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close).
int free_port();
/// Calls `launch(port)` with a free port, and again with another when it throws (a port
/// found free may be taken before the server binds it); after `attempts`, rethrows.
void launch_on_free_port(int attempts, const std::function<void(int port)>& launch);

/// True once 127.0.0.1:port accepts a connection, polling until `timeout`.
bool wait_for_port(int port, std::chrono::milliseconds timeout);

/// A temporary directory removed (recursively) with this object.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

class Process {
  public:
    /// Runs in the child between fork and exec (e.g. setrlimit, signal dispositions): only
    /// async-signal-safe calls.
    using ChildSetup = std::function<void()>;

    /// Starts argv[0] (a path) with the arguments; stdout/stderr go to `log_path` when set.
    Process(std::vector<std::string> argv, std::string log_path = {},
            const ChildSetup& child_setup = nullptr);
    ~Process();  // SIGKILL if still running, then reaps
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    /// Sends `signal` and waits up to `timeout` for the exit. Returns the exit status
    /// (WEXITSTATUS), 128+signal when killed by a signal, -1 on timeout.
    int stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// Waits up to `timeout` for the process to exit by itself; same result as stop().
    int wait(std::chrono::milliseconds timeout);

  private:
    pid_t pid_ = -1;
    int status_ = -1;
};

/// Path of a program on PATH or in /usr/sbin, /usr/bin; "" when absent.
std::string find_program(const std::string& name);

}  // namespace tally::test

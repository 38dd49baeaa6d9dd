// tallyd: parse the command line, start the App, stop it on SIGINT/SIGTERM.

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "app.hpp"

namespace {

/// Every connection is a file descriptor: HTTP connections, live dashboards and metric
/// subscribers have budgets of their own, and the log segments, snapshots and Redis need a
/// few hundred more. Raises the soft limit as far as the hard one allows and says so when
/// the budgets do not fit, rather than failing accept() under load.
void fit_open_files(const tally::daemon::Config& config) {
    const rlim_t wanted = config.max_connections + 2 * config.live_max_clients + 512;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    if (limit.rlim_cur < wanted && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = std::min(wanted, limit.rlim_max);
        setrlimit(RLIMIT_NOFILE, &limit);
        getrlimit(RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur < wanted) {
        spdlog::warn(
            "open files limit {} is below the connection budgets' {} "
            "(http.max_connections + 2 x live.max_clients + 512): raise ulimit -n or "
            "lower the budgets",
            limit.rlim_cur, wanted);
    }
}

}  // namespace

int main(int argc, char** argv) {
    using tally::daemon::CommandLine;
    CommandLine command_line;
    try {
        command_line = tally::daemon::parse_command_line(
            argc, argv,
            std::getenv("TALLY_TOKEN"));  // NOLINT(concurrency-mt-unsafe): before any thread
    } catch (const tally::daemon::ConfigError& e) {
        std::fprintf(stderr, "tallyd: %s\n", e.what());
        return 2;
    }
    if (command_line.action == CommandLine::Action::help) {
        std::fputs(tally::daemon::usage().c_str(), stdout);
        return 0;
    }
    if (command_line.action == CommandLine::Action::version) {
        std::printf("tallyd %s\n", TALLY_VERSION);
        return 0;
    }
    spdlog::set_level(spdlog::level::from_str(command_line.config.log_level));

    // Signals are taken by one thread with sigwait; every other thread (the I/O threads
    // start later and inherit this mask) never sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);
    // Over a file-size limit (ulimit -f), write(2) then fails with EFBIG and the event log
    // answers 503 until the limit is raised, instead of the daemon being killed.
    signal(SIGXFSZ, SIG_IGN);

    fit_open_files(command_line.config);
    try {
        tally::daemon::App app(command_line.config);
        std::atomic<bool> done{false};
        std::thread signal_thread([&] {
            const timespec tick{0, 200'000'000};
            while (!done.load()) {
                const int sig = sigtimedwait(&signals, nullptr, &tick);
                if (sig == SIGINT || sig == SIGTERM) {
                    spdlog::info("signal {}: stopping", sig);
                    app.stop();
                }
            }
        });
        // Joined on every way out of run(), a throw included (say, the port is taken):
        // a joinable std::thread destroyed by the unwinding would abort the process.
        struct JoinSignalThread {
            std::atomic<bool>& done;
            std::thread& thread;
            ~JoinSignalThread() {
                done.store(true);
                thread.join();
            }
        } join_signal_thread{done, signal_thread};
        return app.run();
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
}

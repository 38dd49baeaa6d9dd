#pragma once
// Pipeline: the one way tallyd sends commands to Redis - queued, sent in one write, their
// replies read back in order - and MULTI/EXEC on top of it.
//
// Why pipeline. Both users of Redis send many commands at once: the mirror a site's whole
// flush (hundreds of INCRBY, ZINCRBY, HSET... in one transaction), the fleet reader a
// dashboard's reads. One at a time, each would cost a round trip; queued, they cost one.
// hiredis does the queuing (redisAppendCommandArgv copies a command into its output
// buffer) and the reading (redisGetReply sends what is queued, then parses one reply);
// this class adds the bookkeeping both need: how many replies are still due, why the
// connection failed, and a transaction's outcome.
//
// Failure. When the connection fails (an I/O error, a command timeout: link.hpp), every
// later read fails too and the connection is unusable - a reply may still be on its way,
// so a later command could get an earlier command's reply. The owner then drops the
// connection and opens another. So must it when it lets a pipeline go with replies
// unread.
//
// Transactions. multi(), then the commands, then exec(): Redis answers +OK to MULTI and
// +QUEUED to each command, then EXEC runs them all at once, with nothing of another
// client's in between, and answers with an array of their replies. A command Redis refuses
// while queuing it (an unknown command, a wrong number of arguments) makes EXEC refuse the
// whole transaction (EXECABORT), so nothing runs; a command that fails when run (WRONGTYPE)
// fails alone, its error in EXEC's array, and the others still run.

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/redis/link.hpp"

namespace tally::redis {

/// What became of a MULTI/EXEC (Pipeline::exec()).
struct Transaction {
    /// EXEC's reply: when ran(), an array of the queued commands' replies, in order (each
    /// may be an error of its own); an error (EXECABORT) when Redis refused a command while
    /// queuing it, so that nothing ran; null when the connection failed (Pipeline::error()).
    Reply exec;
    /// The errors of the commands Redis refused while queuing them, in order.
    std::vector<std::string> refused;
    /// Commands sent, MULTI and EXEC included.
    std::size_t commands = 0;

    /// True when the commands ran.
    bool ran() const;
};

class Pipeline {
  public:
    /// Pipelines on `context`, which outlives the pipeline and has no reply outstanding.
    explicit Pipeline(redisContext& context) : context_(context) {}
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    /// Queues one command. Its arguments are copied at once: they may go right after.
    void append(std::initializer_list<std::string_view> args);
    void append(std::span<const std::string_view> args);
    void append(std::span<const std::string> args);

    /// The next reply, in the order of append(); the first read sends everything queued.
    /// Null when the connection failed (error() says why).
    Reply read();
    /// Every reply not read yet, in order; nullopt when the connection failed.
    std::optional<std::vector<Reply>> read_all();
    /// Commands appended whose reply has not been read.
    std::size_t unread() const { return unread_; }

    /// Why the connection failed.
    std::string error() const;

    /// Queues MULTI: the commands appended next form a transaction. Nothing may be unread.
    void multi();
    /// Queues EXEC, sends the transaction and reads all its replies.
    Transaction exec();

  private:
    template <typename Args>
    void append_args(const Args& args);

    redisContext& context_;
    std::vector<const char*> argv_;  // reused from one command to the next
    std::vector<std::size_t> lengths_;
    std::size_t unread_ = 0;
    bool failed_ = false;  // an append failed: every read fails
};

}  // namespace tally::redis

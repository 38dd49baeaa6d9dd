// Pipelined commands and MULTI/EXEC (pipeline.hpp).

#include "tally/redis/pipeline.hpp"

#include <hiredis/hiredis.h>

namespace tally::redis {

bool Transaction::ran() const {
    return exec && exec->type == REDIS_REPLY_ARRAY;
}

template <typename Args>
void Pipeline::append_args(const Args& args) {
    argv_.clear();
    lengths_.clear();
    for (const auto& arg : args) {
        argv_.push_back(arg.data());
        lengths_.push_back(arg.size());
    }
    // hiredis copies the arguments into its output buffer here. It fails only when memory
    // runs out, and then sets the context's error, which fails every later read.
    if (redisAppendCommandArgv(&context_, static_cast<int>(argv_.size()), argv_.data(),
                               lengths_.data()) != REDIS_OK)
        failed_ = true;
    ++unread_;
}

void Pipeline::append(std::initializer_list<std::string_view> args) {
    append_args(args);
}

void Pipeline::append(std::span<const std::string_view> args) {
    append_args(args);
}

void Pipeline::append(std::span<const std::string> args) {
    append_args(args);
}

Reply Pipeline::read() {
    void* reply = nullptr;
    if (failed_ || redisGetReply(&context_, &reply) != REDIS_OK || reply == nullptr) {
        failed_ = true;
        return nullptr;
    }
    --unread_;
    return Reply(static_cast<redisReply*>(reply));
}

std::optional<std::vector<Reply>> Pipeline::read_all() {
    std::vector<Reply> replies;
    replies.reserve(unread_);
    while (unread_ > 0) {
        Reply reply = read();
        if (!reply)
            return std::nullopt;
        replies.push_back(std::move(reply));
    }
    return replies;
}

std::string Pipeline::error() const {
    return context_.errstr[0] != '\0' ? std::string(context_.errstr) : "connection lost";
}

void Pipeline::multi() {
    append({"MULTI"});
}

Transaction Pipeline::exec() {
    append({"EXEC"});
    Transaction transaction;
    transaction.commands = unread_;
    // +OK for MULTI, +QUEUED (or the reason it was refused) for each command, then EXEC's.
    while (unread_ > 0) {
        Reply reply = read();
        if (!reply)
            return transaction;
        if (unread_ == 0)
            transaction.exec = std::move(reply);
        else if (reply->type == REDIS_REPLY_ERROR)
            transaction.refused.emplace_back(reply->str, reply->len);
    }
    return transaction;
}

}  // namespace tally::redis

#include "daemon/signals.h"

#include <signal.h>

#include <ctime>

namespace flowwatch::app {
namespace {

sigset_t WatchedSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

SignalWatcher::SignalWatcher() {
  const sigset_t set = WatchedSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SignalWatcher::~SignalWatcher() {
  quit_.store(true);
  if (thread_.joinable()) thread_.join();
}

void SignalWatcher::Start(std::function<void()> on_stop, std::function<void()> on_reload) {
  thread_ = std::thread([this, on_stop = std::move(on_stop), on_reload = std::move(on_reload)] {
    const sigset_t set = WatchedSignals();
    const timespec slice{0, 200 * 1000 * 1000};  // look at quit_ five times a second
    while (!quit_.load()) {
      const int sig = sigtimedwait(&set, nullptr, &slice);
      if (sig == SIGTERM || sig == SIGINT) on_stop();
      else if (sig == SIGHUP) on_reload();
    }
  });
}

}  // namespace flowwatch::app

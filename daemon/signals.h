// SignalWatcher: turns SIGTERM/SIGINT (stop) and SIGHUP (reload) into calls on
// a thread of its own, so no work happens in a signal handler. Construct it
// before starting any other thread: it blocks the signals in the calling
// thread, and threads started afterwards inherit the mask.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace flowwatch::app {

class SignalWatcher {
 public:
  SignalWatcher();
  ~SignalWatcher();

  void Start(std::function<void()> on_stop, std::function<void()> on_reload);

 private:
  std::atomic<bool> quit_{false};
  std::thread thread_;
};

}  // namespace flowwatch::app

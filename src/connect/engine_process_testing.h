// For tests: a real redis-server or nats-server, started as a child process on a free port of
// 127.0.0.1 with its data in a fresh directory, ready when the constructor returns (the server's
// own "ready" line is read from its output: no sleeps), and killed when destroyed.
//
//   EngineProcess redis(EngineProcess::kRedis);   // appendonly yes, appendfsync always
//   ASSERT_TRUE(redis.ready()) << redis.output();
//   auto connector = Connector::Open(redis.url(), {});
//
// Stop() ends it with SIGTERM (Redis then writes its AOF and exits), Kill() with SIGKILL;
// Start() starts it again on the same port and directory, so a test can check what survives.
#ifndef LIVEREC_CONNECT_ENGINE_PROCESS_TESTING_H_
#define LIVEREC_CONNECT_ENGINE_PROCESS_TESTING_H_

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace liverec::connect::testing {

class EngineProcess {
 public:
  enum Kind { kRedis, kNats };

  explicit EngineProcess(Kind kind) : kind_(kind) {
    char dir_template[] = "/tmp/liverec-engine-XXXXXX";
    dir_ = mkdtemp(dir_template) == nullptr ? "" : dir_template;
    // Another process may take the free port before the server binds it (tests run in
    // parallel): the server then ends at once, and is started again on another port.
    for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
      port_ = FreePort();
      Start();
      if (ready()) break;
      Kill();
    }
  }
  ~EngineProcess() {
    Kill();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  EngineProcess(const EngineProcess&) = delete;
  EngineProcess& operator=(const EngineProcess&) = delete;

  // Starts the server (again; after Stop or Kill); ready() tells whether it printed its ready
  // line.
  void Start() {
    const std::string port = std::to_string(port_);
    std::vector<std::string> args;
    std::string ready_line;
    if (kind_ == kRedis) {
      args = {"redis-server",
              "--port",
              port,
              "--bind",
              "127.0.0.1",
              "--dir",
              dir_,
              "--appendonly",
              "yes",
              "--appendfsync",
              "always",
              "--save",
              "",
              "--daemonize",
              "no",
              "--logfile",
              ""};
      ready_line = "Ready to accept connections";
    } else {
      args = {"nats-server", "--addr",      "127.0.0.1",   "--port",
              port,          "--jetstream", "--store_dir", dir_};
      ready_line = "Server is ready";
    }
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(out[1], STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    {
      std::lock_guard<std::mutex> lock(mu_);
      output_.clear();
      ready_ = false;
      ended_ = false;
    }
    // The server's output is drained for its whole life (a closed pipe would end nats-server
    // with SIGPIPE at its next log line); the constructor returns at its ready line or its end.
    reader_ = std::thread([this, fd = out[0], ready_line] {
      char buf[512];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        output_.append(buf, static_cast<size_t>(n));
        if (!ready_ && output_.find(ready_line) != std::string::npos) {
          ready_ = true;
          cv_.notify_all();
        }
      }
      close(fd);
      std::lock_guard<std::mutex> lock(mu_);
      ended_ = true;
      cv_.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return ready_ || ended_; });
  }

  // SIGTERM and wait: Redis finishes its AOF, nats-server its store.
  void Stop() { Signal(SIGTERM); }
  // SIGKILL and wait: what the engine made durable before is all that survives.
  void Kill() { Signal(SIGKILL); }

  bool ready() {
    std::lock_guard<std::mutex> lock(mu_);
    return ready_;
  }
  // What the server printed so far (for failure messages).
  std::string output() {
    std::lock_guard<std::mutex> lock(mu_);
    return output_;
  }
  int port() const { return port_; }
  std::string url() const {
    return std::string(kind_ == kRedis ? "redis" : "nats") +
           "://127.0.0.1:" + std::to_string(port_);
  }

 private:
  void Signal(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (reader_.joinable()) reader_.join();
  }

  // A port the kernel just handed out and took back; a server started right after gets it.
  static int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
  }

  static constexpr int kStartAttempts = 5;

  Kind kind_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false;  // guarded by mu_, as the two below
  bool ended_ = false;
  std::string output_;
};

}  // namespace liverec::connect::testing

#endif  // LIVEREC_CONNECT_ENGINE_PROCESS_TESTING_H_

// Helpers for the tests that run the liverec binary itself (LIVEREC_CLI_PATH, which each such
// test target defines): a command run to completion, and `liverec serve` as a child process.
#ifndef LIVEREC_TESTS_CLI_TESTING_H_
#define LIVEREC_TESTS_CLI_TESTING_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "store/store_testing.h"  // ReadFile

namespace liverec::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout (and stderr with kMergeStderr)
};

// RunCli's `stderr_to` that sends stderr to stdout.
inline constexpr const char* kMergeStderr = "&1";

// Runs `liverec <args>` (args as a shell would split them) to completion. Its stderr goes to
// the file `stderr_to`, to stdout with kMergeStderr, or nowhere ("").
inline CommandResult RunCli(const std::string& args, const std::string& stderr_to = "") {
  const std::string command = std::string(LIVEREC_CLI_PATH) + " " + args + " 2>" +
                              (stderr_to.empty() ? std::string("/dev/null") : stderr_to);
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.out.append(buf.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// "--set a=b" flags, one pair per assignment.
inline std::vector<std::string> SetFlags(const std::vector<std::string>& assignments) {
  std::vector<std::string> flags;
  for (const std::string& a : assignments) {
    flags.push_back("--set");
    flags.push_back(a);
  }
  return flags;
}

// A `liverec serve` child on a free port of 127.0.0.1, with `extra_args` after the data
// directory; its port is read from its first line of stdout. With `max_file_bytes`, the kernel
// refuses writes past that file size (RLIMIT_FSIZE, SIGXFSZ ignored): to the server it is a disk
// that fills up, mid-write included. With `stderr_path`, its stderr goes there. Stopped with
// SIGTERM (drain, snapshot) when destroyed, unless killed before.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& data_dir,
                         const std::vector<std::string>& extra_args = {},
                         rlim_t max_file_bytes = RLIM_INFINITY,
                         const std::string& stderr_path = "") {
    int out[2];
    EXPECT_EQ(pipe(out), 0);
    std::vector<std::string> args = {LIVEREC_CLI_PATH, "serve", "--host",     "127.0.0.1",
                                     "--port",         "0",     "--data-dir", data_dir};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = fork();
    if (pid_ == 0) {
      if (max_file_bytes != RLIM_INFINITY) {
        signal(SIGXFSZ, SIG_IGN);
        const rlimit limit{max_file_bytes, max_file_bytes};
        setrlimit(RLIMIT_FSIZE, &limit);
      }
      if (!stderr_path.empty()) {
        const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(err, STDERR_FILENO);
        close(err);
      }
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    // "liverec: listening on http://127.0.0.1:PORT\n"
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    close(out[0]);
    const size_t colon = line.rfind(':');
    port_ = colon == std::string::npos ? 0 : std::atoi(line.c_str() + colon + 1);
  }
  ~ServerProcess() { Stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // SIGTERM, then waits for the exit; true if it exited with status 0.
  bool Stop() {
    if (pid_ <= 0) return exited_ok_;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exited_ok_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return exited_ok_;
  }
  // SIGKILL, then waits for the end; killed() tells whether the signal ended it.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    killed_ = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool killed() const { return killed_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_ok_ = false;
  bool killed_ = false;
};

}  // namespace liverec::testing

#endif  // LIVEREC_TESTS_CLI_TESTING_H_

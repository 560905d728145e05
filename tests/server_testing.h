// InProcessServerTest: a fixture with a fresh data directory (root_), an engine opened on it and
// an HttpServer on a free port of 127.0.0.1, run on a thread of its own; shared by the tests
// that talk to the real server in process (http_test, auth_test, dashboard_test).
#ifndef LIVEREC_TESTS_SERVER_TESTING_H_
#define LIVEREC_TESTS_SERVER_TESTING_H_

#include <gtest/gtest.h>
#include <httplib.h>

#include <initializer_list>
#include <memory>
#include <string_view>
#include <thread>

#include "engine/engine_testing.h"
#include "liverec/engine.h"
#include "serve/http_server.h"
#include "store/store_testing.h"

namespace liverec::testing {

class InProcessServerTest : public TempDirTest {
 protected:
  // Opens the engine on root_ with the test options plus `sets`, and a server bound to a free
  // port (not yet running).
  void OpenServer(std::initializer_list<std::string_view> sets = {}) {
    Options options = EngineOptions(root_, sets);
    ASSERT_TRUE(options.Set("serve.port", "0").ok());
    StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options, Context{}, "", nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    engine_ = std::move(engine).value();
    server_ = std::make_unique<HttpServer>(engine_.get(), options);
    StatusOr<int> port = server_->Bind();
    ASSERT_TRUE(port.ok()) << port.status().message();
    port_ = *port;
  }

  void RunServerThread() {
    thread_ = std::thread([this] { server_->Run(); });
  }

  // OpenServer, then Run in a thread, returning once the server answers.
  void StartServer(std::initializer_list<std::string_view> sets = {}) {
    ASSERT_NO_FATAL_FAILURE(OpenServer(sets));
    RunServerThread();
    // The socket listens since Bind, so this request waits in the backlog until Run accepts
    // it: once it is answered, Run is serving and Stop will make it return.
    httplib::Client client("127.0.0.1", port_);
    const httplib::Result health = client.Get("/healthz");
    ASSERT_TRUE(health && health->status == 200);
  }

  void StopServer() {
    if (server_ == nullptr) return;
    server_->Stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  void TearDown() override {
    StopServer();
    engine_.reset();
    TempDirTest::TearDown();
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace liverec::testing

#endif  // LIVEREC_TESTS_SERVER_TESTING_H_

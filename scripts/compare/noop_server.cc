// A no-op unary gRPC method on C++ gRPC (Debian's libgrpc++-dev), the fastest
// common peer, for scripts/compare-grpc.sh.
//
// Usage: noop_server PORT CERT.pem KEY.pem
// PORT 0 picks a free port; the chosen one is printed as
// "listening on 127.0.0.1:PORT" once the server accepts connections.
//
// The method is /noop.v1.Noop/Call, served by the callback generic service:
// no protobuf code generation, the request stays a raw ByteBuffer. The answer
// is a fixed 2-byte message, the size of notifyd's health answer
// (HealthCheckResponse{status: SERVING} is 08 01).
//
// Build: g++ -O2 -std=c++17 noop_server.cc -o noop_server $(pkg-config --cflags --libs grpc++)

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

namespace {

const char kMethod[] = "/noop.v1.Noop/Call";

std::string ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "noop_server: cannot read " << path << "\n";
    std::exit(1);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// One unary call: read the one request message, then write the answer and
// finish with OK in a single step (one batch on the wire, as a unary
// handler of generated code does).
class NoopReactor : public grpc::ServerGenericBidiReactor {
 public:
  explicit NoopReactor(const grpc::ByteBuffer& answer) : response_(answer) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
      return;
    }
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
  }

  void OnDone() override { delete this; }

 private:
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

class UnimplementedReactor : public grpc::ServerGenericBidiReactor {
 public:
  UnimplementedReactor() { Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "")); }
  void OnDone() override { delete this; }
};

class NoopService : public grpc::CallbackGenericService {
 public:
  NoopService() {
    static const char bytes[] = {0x08, 0x01};
    grpc::Slice slice(bytes, sizeof bytes);
    answer_ = grpc::ByteBuffer(&slice, 1);
  }

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override {
    if (context->method() != kMethod) return new UnimplementedReactor();
    return new NoopReactor(answer_);
  }

 private:
  grpc::ByteBuffer answer_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: noop_server PORT CERT.pem KEY.pem\n";
    return 2;
  }
  grpc::SslServerCredentialsOptions tls;
  tls.pem_key_cert_pairs.push_back({ReadFile(argv[3]), ReadFile(argv[2])});

  NoopService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(std::string("127.0.0.1:") + argv[1], grpc::SslServerCredentials(tls), &port);
  builder.RegisterCallbackGenericService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "noop_server: could not listen on 127.0.0.1:" << argv[1] << "\n";
    return 1;
  }
  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}

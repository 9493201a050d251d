// The C header from C++ (C++17, -pedantic -Werror): handles owned by std::unique_ptr, a
// forecast of two walkers with the shipped default student, and an error that names its file.
// Run by tests/c_abi.rs against the installed static library.
//
// usage: cpp_smoke MODEL.onnx
#include "fewstep.h"

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

struct ModelFree {
  void operator()(FewstepModel* m) const { fewstep_model_free(m); }
};
struct ForecasterFree {
  void operator()(FewstepForecaster* f) const { fewstep_forecaster_free(f); }
};
using Model = std::unique_ptr<FewstepModel, ModelFree>;
using Forecaster = std::unique_ptr<FewstepForecaster, ForecasterFree>;

int passed = 0, failed = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::fprintf(stderr, "FAIL: %s (last error: %s)\n", what.c_str(), fewstep_last_error());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: cpp_smoke MODEL.onnx\n");
    return 2;
  }
  FewstepModel* raw = nullptr;
  check(fewstep_model_load("/no/such/model.onnx", &raw) == FEWSTEP_STATUS_IO && raw == nullptr,
        "a missing file is an IO error");
  check(std::string(fewstep_last_error()).find("/no/such/model.onnx") != std::string::npos,
        "the error names the file");

  check(fewstep_model_load(argv[1], &raw) == FEWSTEP_STATUS_OK, "the model loads");
  Model model(raw);
  FewstepForecaster* raw_f = nullptr;
  check(fewstep_forecaster_new(model.get(), 4, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 7,
                               &raw_f) == FEWSTEP_STATUS_OK,
        "a forecaster for 4 agents");
  Forecaster f(raw_f);
  const size_t k = fewstep_forecaster_k(f.get());
  check(k == 20, "K is 20");

  // two pedestrians walking at 1 m/s along +x and +y, one frame every 0.4 s
  const double ids[2] = {1.0, 2.0};
  std::vector<double> out_ids(4);
  std::vector<float> futures(4 * k * 24);
  size_t count = 0;
  for (int frame = 0; frame < 8; ++frame) {
    const float t = 0.4f * static_cast<float>(frame);
    const float xs[2] = {t, 5.0f};
    const float ys[2] = {0.0f, t};
    check(fewstep_forecaster_observe(f.get(), frame * 10.0, ids, xs, ys, 2) == FEWSTEP_STATUS_OK,
          "observe frame " + std::to_string(frame));
    check(fewstep_forecaster_predict(f.get(), out_ids.data(), futures.data(), 4, &count) ==
              FEWSTEP_STATUS_OK,
          "predict frame " + std::to_string(frame));
  }
  check(count == 2, "both walkers are forecast after 8 frames");
  bool finite = true;
  for (size_t i = 0; i < count * k * 24; ++i) finite = finite && std::isfinite(futures[i]);
  check(finite, "every future is finite");
  // the walkers keep going, more or less: the mean endpoint of walker 1 lies ahead of it in x
  double mean_x = 0.0;
  size_t walker = out_ids[0] == 1.0 ? 0 : 1;
  for (size_t j = 0; j < k; ++j) mean_x += futures[(walker * k + j) * 24 + 22];
  mean_x /= static_cast<double>(k);
  check(mean_x > 2.8 + 1.0, "walker 1 is forecast to go on along +x");

  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

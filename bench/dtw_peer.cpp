// A textbook hard DTW over every (video, text) pair of pairwise costs (Bv, N, Bt, M) with lengths: one row-major DP per
// pair, two rows of workspace, torch's parallel_for over the pairs. bench_s2dtw.py --floors times vtlearn's hard DTW
// against it where torchdtw (the published C++ peer) is not installed: what a plain C++ implementation gets.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <limits>
#include <vector>

torch::Tensor dtw_pairwise(torch::Tensor cost, torch::Tensor vlen, torch::Tensor tlen) {
  auto c = cost.contiguous().to(torch::kFloat);
  auto vl = vlen.to(torch::kLong).contiguous(), tl = tlen.to(torch::kLong).contiguous();
  const int64_t Bv = c.size(0), N = c.size(1), Bt = c.size(2), M = c.size(3);
  auto out = torch::empty({Bv, Bt}, c.options());
  const float* cp = c.data_ptr<float>();
  const int64_t *vp = vl.data_ptr<int64_t>(), *tp = tl.data_ptr<int64_t>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, Bv * Bt, 1, [&](int64_t p0, int64_t p1) {
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> prev(M + 1), cur(M + 1);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t a = p / Bt, b = p % Bt, n = vp[a], m = tp[b];
      std::fill(prev.begin(), prev.end(), inf);
      prev[0] = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float* row = cp + (a * N + i) * Bt * M + b * M;
        cur[0] = inf;
        for (int64_t j = 0; j < m; ++j) cur[j + 1] = row[j] + std::min(std::min(prev[j], prev[j + 1]), cur[j]);
        std::swap(prev, cur);
      }
      op[p] = prev[m];
    }
  });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("dtw_pairwise", &dtw_pairwise, "hard DTW of every pair"); }

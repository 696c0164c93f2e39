// fastai_bsi's fused kernels for the CPU: the `adam_bsi` and `lamb_bsi` steps and MicroBatchGrads' fold.
// Built on first use by `fastai_bsi.kernels._cpp_kernels` with torch.utils.cpp_extension.load (cached per source
// and CPU capability under ~/.cache/torch_extensions). The arithmetic is the readable steppers' of
// fastai_bsi.optimizer, in the same order; nbs/01a_kernels.ipynb explains it and tests it against them.
// Every tensor is contiguous, on the CPU, of one floating dtype per parameter; `h` holds one row of float64
// hyper-parameters per tensor, whose columns fastai_bsi/kernels.py names in ROW_COLS (it checks their number against
// row_widths() below when it loads this file).
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

constexpr int64_t ADAM_W = 9, LAMB_W = 10, FOLD_W = 6;   // columns of a row: ROW_COLS in kernels.py

template <typename T>
static void adam_one(T* __restrict p, const T* __restrict g, const T* __restrict s, T* __restrict m, T* __restrict v,
                     int64_t n, const double* h) {
  const T nstep = h[0], decay = h[1], l2 = h[2], tl2 = 2*h[2], l22 = h[2]*h[2], b1 = h[3], d1 = h[4], b2 = h[5], d2 = h[6],
          bc2 = h[7], eps = h[8];
  at::parallel_for(0, n, 16384, [&](int64_t b, int64_t e) {
    #pragma omp simd
    for (int64_t i = b; i < e; i++) {
      const T P = p[i], G0 = g[i];
      const T S = s[i] + tl2*P*G0 + l22*P*P, G = G0 + l2*P;       // micro_l2_reg (l2 = 0: decoupled)
      const T M = m[i]*b1 + d1*G, W = v[i]*b2 + d2*S;            // average_grad, average_micro_sqr_grad
      p[i] = P*decay + nstep*M/(std::sqrt(W/bc2) + eps);         // weight_decay, adam_step
      m[i] = M; v[i] = W;
    }
  });
}

template <typename T>
static void lamb_one(T* __restrict p, const T* __restrict g, const T* __restrict s, T* __restrict m, T* __restrict v,
                     T* __restrict u, int64_t n, const double* h) {
  const T wd = h[1], b1 = h[2], d1 = h[3], b2 = h[4], d2 = h[5], ibc1 = T(1/h[6]), ibc2 = T(1/h[7]), eps = h[8];
  constexpr int64_t B = 2048;    // norms: SIMD sums in T over blocks of B values, the blocks added in double
  using P2 = std::pair<double, double>;
  const P2 r = at::parallel_reduce(0, n, 16384, P2(0., 0.), [&](int64_t b0, int64_t e0, P2 acc) {
    for (int64_t b = b0; b < e0; b += B) {
      const int64_t e = std::min(e0, b + B);
      T a = 0, c = 0;
      #pragma omp simd reduction(+:a,c)
      for (int64_t i = b; i < e; i++) {
        const T P = p[i], M = m[i]*b1 + d1*g[i], W = v[i]*b2 + d2*s[i];
        const T U = (M*ibc1)/(std::sqrt(W*ibc2) + eps) + wd*P;
        m[i] = M; v[i] = W; u[i] = U;
        a += P*P; c += U*U;
      }
      acc.first += a; acc.second += c;
    }
    return acc;
  }, [](P2 x, P2 y) { return P2(x.first + y.first, x.second + y.second); });
  const double r1 = std::sqrt(r.first), r2 = std::sqrt(r.second);
  const T sc = h[0]*((r1 > 0 && r2 > 0) ? std::min(r1/r2, h[9]) : 1.);
  at::parallel_for(0, n, 16384, [&](int64_t b0, int64_t e0) {
    for (int64_t e = e0; e > b0; e -= B) {       // backwards: the values the first pass wrote last are still cached
      const int64_t b = std::max(b0, e - B);
      #pragma omp simd
      for (int64_t i = b; i < e; i++) p[i] -= sc*u[i];
    }
  });
}

static void check(const std::vector<at::Tensor>& ps, const std::vector<at::Tensor>& gs, const std::vector<at::Tensor>& ss,
                  const std::vector<at::Tensor>& ms, const std::vector<at::Tensor>& vs, const at::Tensor& h, int64_t w) {
  const size_t n = ps.size();
  TORCH_CHECK(gs.size() == n && ss.size() == n && ms.size() == n && vs.size() == n, "lists of different lengths");
  TORCH_CHECK(h.scalar_type() == at::kDouble && h.is_contiguous() && h.dim() == 2 && h.size(0) == (int64_t)n && h.size(1) == w,
              "bad hyper-parameter table");
  for (size_t k = 0; k < n; k++)
    for (const at::Tensor* t : {&gs[k], &ss[k], &ms[k], &vs[k]})
      TORCH_CHECK(t->device().is_cpu() && t->is_contiguous() && t->scalar_type() == ps[k].scalar_type() &&
                  t->numel() == ps[k].numel() && ps[k].is_contiguous() && ps[k].device().is_cpu(), "bad tensor ", k);
}

void adam_(std::vector<at::Tensor> ps, std::vector<at::Tensor> gs, std::vector<at::Tensor> ss,
           std::vector<at::Tensor> ms, std::vector<at::Tensor> vs, at::Tensor h) {
  check(ps, gs, ss, ms, vs, h, ADAM_W);
  const double* H = h.data_ptr<double>();
  for (size_t k = 0; k < ps.size(); k++)
    AT_DISPATCH_FLOATING_TYPES(ps[k].scalar_type(), "adam_bsi", [&] {
      adam_one<scalar_t>(ps[k].data_ptr<scalar_t>(), gs[k].data_ptr<scalar_t>(), ss[k].data_ptr<scalar_t>(),
                         ms[k].data_ptr<scalar_t>(), vs[k].data_ptr<scalar_t>(), ps[k].numel(), H + ADAM_W*k);
    });
}

void lamb_(std::vector<at::Tensor> ps, std::vector<at::Tensor> gs, std::vector<at::Tensor> ss,
           std::vector<at::Tensor> ms, std::vector<at::Tensor> vs, at::Tensor h) {
  check(ps, gs, ss, ms, vs, h, LAMB_W);
  const double* H = h.data_ptr<double>();
  int64_t mx = 1;
  for (const auto& p : ps) mx = std::max(mx, p.numel());
  at::Tensor u32, u64;
  for (size_t k = 0; k < ps.size(); k++)
    AT_DISPATCH_FLOATING_TYPES(ps[k].scalar_type(), "lamb_bsi", [&] {
      at::Tensor& u = std::is_same<scalar_t, double>::value ? u64 : u32;
      if (!u.defined()) u = at::empty({mx}, ps[k].options());
      lamb_one<scalar_t>(ps[k].data_ptr<scalar_t>(), gs[k].data_ptr<scalar_t>(), ss[k].data_ptr<scalar_t>(),
                         ms[k].data_ptr<scalar_t>(), vs[k].data_ptr<scalar_t>(), u.data_ptr<scalar_t>(), ps[k].numel(),
                         H + LAMB_W*k);
    });
}

// MicroBatchGrads' folding: a = b1*a + c1*G, q = b2*q + c2*G*G with G = g + l2*p; `over`: ignore the old a, q
template <typename T, bool OVER, bool USE_P>
static void fold_loop(const T* __restrict p, const T* __restrict g, T* __restrict a, T* __restrict q, int64_t n,
                      T b1, T b2, T c1, T c2, T l2) {
  at::parallel_for(0, n, 16384, [&](int64_t b, int64_t e) {
    #pragma omp simd
    for (int64_t i = b; i < e; i++) {
      const T G = USE_P ? g[i] + l2*p[i] : g[i];
      a[i] = OVER ? c1*G : a[i]*b1 + c1*G;
      q[i] = OVER ? c2*(G*G) : q[i]*b2 + c2*(G*G);
    }
  });
}

template <typename T>
static void fold_one(const T* p, const T* g, T* a, T* q, int64_t n, const double* h) {
  const T b1 = h[0], b2 = h[1], c1 = h[2], c2 = h[3], l2 = h[4];
  const bool over = h[5] != 0., use_p = h[4] != 0.;
  if (over) { if (use_p) fold_loop<T, true, true>(p, g, a, q, n, b1, b2, c1, c2, l2);
              else       fold_loop<T, true, false>(p, g, a, q, n, b1, b2, c1, c2, l2); }
  else      { if (use_p) fold_loop<T, false, true>(p, g, a, q, n, b1, b2, c1, c2, l2);
              else       fold_loop<T, false, false>(p, g, a, q, n, b1, b2, c1, c2, l2); }
}

void fold_(std::vector<at::Tensor> ps, std::vector<at::Tensor> gs, std::vector<at::Tensor> as,
           std::vector<at::Tensor> qs, at::Tensor h) {
  check(ps, gs, as, qs, qs, h, FOLD_W);
  const double* H = h.data_ptr<double>();
  for (size_t k = 0; k < ps.size(); k++)
    AT_DISPATCH_FLOATING_TYPES(ps[k].scalar_type(), "fold", [&] {
      fold_one<scalar_t>(ps[k].data_ptr<scalar_t>(), gs[k].data_ptr<scalar_t>(), as[k].data_ptr<scalar_t>(),
                         qs[k].data_ptr<scalar_t>(), ps[k].numel(), H + FOLD_W*k);
    });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("adam_", &adam_, "adam_bsi step on lists of tensors (one row of h per tensor)");
  m.def("lamb_", &lamb_, "lamb_bsi step on lists of tensors (one row of h per tensor)");
  m.def("fold_", &fold_, "a = b1*a + c1*G, q = b2*q + c2*G*G with G = g + l2*p, on lists of tensors");
  m.def("row_widths", []() { return std::vector<std::pair<std::string, int64_t>>{
    {"adam", ADAM_W}, {"lamb", LAMB_W}, {"fold", FOLD_W}}; }, "the number of columns of each kind of row");
}

#include "actors/critical.hpp"

#include <exception>

namespace maxsess::actors {

namespace {

std::string describe(const std::exception_ptr& x) {
  try {
    std::rethrow_exception(x);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace

void guard_critical(caf::scheduled_actor* self, const context& ctx, std::string what) {
  // The handler runs on the dying actor's thread, after the throw and
  // before CAF ends the actor with the error returned here.
  self->set_exception_handler([&ctx, what = std::move(what)](caf::scheduled_actor*, std::exception_ptr& x) {
    const auto error = describe(x);
    ctx.deps.log.error("runtime", "a critical actor died of an exception; the node stops",
                       {{"actor", what}, {"error", error}});
    if (ctx.deps.on_fatal) ctx.deps.on_fatal(what + ": " + error);
    return caf::make_error(caf::sec::runtime_error, what + ": " + error);
  });
}

}  // namespace maxsess::actors

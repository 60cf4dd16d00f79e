// Problem generator for Athena++ (PrincetonUniversity/athena): driven isothermal MHD turbulence in a
// periodic box with a uniform mean field along x1, for the side-by-side comparison of
// benchmarks/athena_reference.py. Written for crturb-keras; build it into an Athena++ checkout with
// benchmarks/athena/build.sh (never vendored into this repository).
//
// Inputs: <problem> beta (plasma beta of the mean field, 2 rho0 c_s^2 / B0^2); the density is 1 and
// the gas starts at rest. The driving is Athena++'s own TurbulenceDriver (<turbulence> block).
// Built with -cr (benchmarks/athena/build.sh SRC BUILD --cr), <problem> crBeta (P_c / P_g, default
// 1) sets a uniform CR energy density E_c = 3 crBeta rho0 c_s^2 with zero flux; the transport uses
// the CR module's default opacity (<cr> max_opacity, isotropic; vs_flag = 1 adds streaming at the
// local Alfven speed).

#include <cmath>

#include "../athena.hpp"
#include "../athena_arrays.hpp"
#include "../cr/cr.hpp"
#include "../eos/eos.hpp"
#include "../field/field.hpp"
#include "../hydro/hydro.hpp"
#include "../mesh/mesh.hpp"
#include "../parameter_input.hpp"

void Mesh::InitUserMeshData(ParameterInput *pin) {}

void MeshBlock::ProblemGenerator(ParameterInput *pin) {
  const Real beta = pin->GetReal("problem", "beta");
  const Real cs = peos->GetIsoSoundSpeed();
  const Real b0 = std::sqrt(2.0 * cs * cs / beta);
  for (int k = ks; k <= ke; ++k) {
    for (int j = js; j <= je; ++j) {
      for (int i = is; i <= ie; ++i) {
        phydro->u(IDN, k, j, i) = 1.0;
        phydro->u(IM1, k, j, i) = 0.0;
        phydro->u(IM2, k, j, i) = 0.0;
        phydro->u(IM3, k, j, i) = 0.0;
      }
    }
  }
  if (MAGNETIC_FIELDS_ENABLED) {
    for (int k = ks; k <= ke; ++k)
      for (int j = js; j <= je; ++j)
        for (int i = is; i <= ie + 1; ++i) pfield->b.x1f(k, j, i) = b0;
    for (int k = ks; k <= ke; ++k)
      for (int j = js; j <= je + 1; ++j)
        for (int i = is; i <= ie; ++i) pfield->b.x2f(k, j, i) = 0.0;
    for (int k = ks; k <= ke + 1; ++k)
      for (int j = js; j <= je; ++j)
        for (int i = is; i <= ie; ++i) pfield->b.x3f(k, j, i) = 0.0;
    pfield->CalculateCellCenteredField(pfield->b, pfield->bcc, pcoord, is, ie, js, je, ks, ke);
  }
  if (CR_ENABLED) {
    const Real ec = 3.0 * pin->GetOrAddReal("problem", "crBeta", 1.0) * cs * cs;
    for (int k = ks; k <= ke; ++k) {
      for (int j = js; j <= je; ++j) {
        for (int i = is; i <= ie; ++i) {
          pcr->u_cr(CRE, k, j, i) = ec;
          pcr->u_cr(CRF1, k, j, i) = 0.0;
          pcr->u_cr(CRF2, k, j, i) = 0.0;
          pcr->u_cr(CRF3, k, j, i) = 0.0;
        }
      }
    }
  }
}

void Mesh::UserWorkAfterLoop(ParameterInput *pin) {}

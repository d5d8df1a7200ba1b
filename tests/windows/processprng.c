/*
 * Stand-in for bcryptprimitives.dll, TEST EQUIPMENT ONLY.
 *
 * Debian 12's Wine (8.0) has no bcryptprimitives.dll, yet every program built
 * by Rust >= 1.78 for *-pc-windows-* imports bcryptprimitives.dll!ProcessPrng
 * (std's HashMap RandomState seed, and getrandom >= 0.3 too).  Without it the
 * loader aborts with "Library bcryptprimitives.dll ... not found" (c0000135),
 * exit code 53, before main runs.
 *
 * This DLL exports only ProcessPrng and fills the buffer with
 * BCryptGenRandom(NULL, ..., BCRYPT_USE_SYSTEM_PREFERRED_RNG), which Wine
 * implements (on top of the host's /dev/urandom).  Newer Wine (>= 9.x)
 * ships its own bcryptprimitives.dll; this file is then not needed.
 *
 * scripts/test-windows builds it with MinGW-w64 and copies it into the private
 * Wine prefix of the tests only; it is never shipped with lanceur.exe, which on
 * Windows 10 / Server 2016 and later finds the system's own DLL:
 *   x86_64-w64-mingw32-gcc -O2 -shared -s -o bcryptprimitives.dll \
 *       processprng.c bcryptprimitives.def -lbcrypt
 */
#include <windows.h>
#include <bcrypt.h>

#ifndef BCRYPT_USE_SYSTEM_PREFERRED_RNG
#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#endif

/* Same contract as the real one: always returns TRUE. */
BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)
{
    while (cbData > 0) {
        ULONG chunk = cbData > 0x40000000u ? 0x40000000u : (ULONG)cbData;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, pbData, chunk,
                                            BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
            /* The real ProcessPrng never fails; neither may we hand back
             * predictable bytes.  Stop the process loudly. */
            FatalAppExitA(0, "bcryptprimitives stand-in: BCryptGenRandom failed");
        }
        pbData += chunk;
        cbData -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst; (void)reason; (void)reserved;
    return TRUE;
}

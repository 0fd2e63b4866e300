/*
 * Test-only stand-in for Windows 10's bcryptprimitives.dll, which Wine 8.0 lacks.
 * Rust's standard library imports ProcessPrng from it; real Windows has it, so this DLL
 * is only ever put beside the exe inside the Wine prefix of scripts/cross, never shipped.
 * It fills the buffer from RtlGenRandom (SystemFunction036, advapi32), whose length
 * argument is 32-bit, hence the chunks.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

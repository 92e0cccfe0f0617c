#ifndef C_OPENSSL_SHIM_H
#define C_OPENSSL_SHIM_H
// The system OpenSSL (Debian's libssl-dev). Swift cannot import OpenSSL's
// function-like macros or variadic functions, so the ones we need are wrapped
// below as static inline functions with the COpenSSL_ prefix.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/bn.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>

static inline long COpenSSL_BIO_pending(BIO *bio) { return BIO_pending(bio); }
static inline long COpenSSL_BIO_set_mem_eof_return(BIO *bio, int v) { return BIO_set_mem_eof_return(bio, v); }
static inline long COpenSSL_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) { return SSL_CTX_set_min_proto_version(ctx, v); }
static inline long COpenSSL_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int v) { return SSL_CTX_set_max_proto_version(ctx, v); }
static inline long COpenSSL_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t o) { return (long)SSL_CTX_set_options(ctx, o); }
static inline long COpenSSL_SSL_CTX_set_mode(SSL_CTX *ctx, long m) { return SSL_CTX_set_mode(ctx, m); }
static inline long COpenSSL_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long m) { return SSL_CTX_set_session_cache_mode(ctx, m); }
static inline long COpenSSL_SSL_set_tlsext_host_name(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
static inline void COpenSSL_OPENSSL_free(void *p) { OPENSSL_free(p); }

static inline uint64_t COpenSSL_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t COpenSSL_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t COpenSSL_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t COpenSSL_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
// OpenSSL 3.0 has no SSL_OP_NO_CLIENT_RENEGOTIATION: client-initiated renegotiation is off unless
// SSL_OP_ALLOW_CLIENT_RENEGOTIATION is set, so the option is 0 (nothing to set) there.
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
static inline uint64_t COpenSSL_SSL_OP_NO_CLIENT_RENEGOTIATION(void) { return SSL_OP_NO_CLIENT_RENEGOTIATION; }
#else
static inline uint64_t COpenSSL_SSL_OP_NO_CLIENT_RENEGOTIATION(void) { return 0; }
#endif
static inline uint64_t COpenSSL_SSL_OP_IGNORE_UNEXPECTED_EOF(void) { return SSL_OP_IGNORE_UNEXPECTED_EOF; }

// Added for NotifyTLS / NotifyCrypto.
static inline long COpenSSL_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return SSL_CTX_set1_groups_list(ctx, list); }
static inline EVP_PKEY *COpenSSL_EVP_EC_gen(const char *curve) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve); }
static inline int COpenSSL_X509_add_extension(X509 *issuer, X509 *subject, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) { return 0; }
    int ok = X509_add_ext(subject, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}
static inline long COpenSSL_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
static inline int COpenSSL_ERR_GET_REASON(unsigned long e) { return ERR_GET_REASON(e); }

#endif

<?php

/*
 * The hosted SAML 2.0 IdP, as in the package's metadata template
 * (saml20-idp-hosted.php), with a key pair the test generates.
 *
 * SSP_TEST_ATTRIBUTES chooses between the template's two ways to name the
 * attributes:
 *   basic  the default: attributes under the auth source's names (mail, cn,
 *          givenName, sn, ...) with the basic NameFormat;
 *   oid    the template's commented-out alternative: the uri NameFormat and
 *          core:AttributeMap name2oid (urn:oid:0.9.2342.19200300.100.1.3, ...).
 *
 * SSP_TEST_SIGNATURE=rsa-sha1 signs with RSA-SHA1 (and SHA-1 digests), as a
 * legacy IdP does; RSA-SHA256 otherwise.
 */

$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'example-userpass',
];

if (getenv('SSP_TEST_ATTRIBUTES') === 'oid') {
    $metadata['__DYNAMIC:1__']['attributes.NameFormat'] = 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri';
    $metadata['__DYNAMIC:1__']['authproc'] = [
        100 => ['class' => 'core:AttributeMap', 'name2oid'],
    ];
}

if (getenv('SSP_TEST_SIGNATURE') === 'rsa-sha1') {
    $metadata['__DYNAMIC:1__']['signature.algorithm'] = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
}

<?php

/*
 * SimpleSAMLphp 1.19 (Debian's simplesamlphp package) as the identity
 * provider of e2e/saml_interop_test.go, run by PHP's built-in server with
 * SIMPLESAMLPHP_CONFIG_DIR pointing here. Everything that changes between
 * runs comes from the environment the test sets:
 *
 *   SSP_TEST_BASEURL      the server's address, e.g. http://127.0.0.1:34567
 *   SSP_TEST_DIR          a writable directory of the test: cert/idp.{key,crt},
 *                         sp-metadata.xml (Switchboard's SP metadata as the SP
 *                         serves it), and data, tmp and session folders
 *   SSP_TEST_SECRET       the secret salt (and admin password)
 *   SSP_TEST_ATTRIBUTEMAP the package's attribute map folder
 *   SSP_TEST_ATTRIBUTES   "basic" or "oid", see metadata/saml20-idp-hosted.php
 *
 * Apart from that, it is the stock configuration of an IdP: the SAML 2.0 IdP
 * enabled, exampleauth:UserPass users, PHP sessions.
 */

$dir = getenv('SSP_TEST_DIR');

$config = [
    'baseurlpath' => rtrim(getenv('SSP_TEST_BASEURL'), '/') . '/',
    'certdir' => $dir . '/cert/',
    'loggingdir' => $dir . '/log/',
    'datadir' => $dir . '/data/',
    'tempdir' => $dir . '/tmp/',
    'attributenamemapdir' => rtrim(getenv('SSP_TEST_ATTRIBUTEMAP'), '/') . '/',

    // The hosted IdP from this folder, the SP from the XML it publishes
    // (which is how an administrator would add it: paste its metadata).
    'metadatadir' => __DIR__ . '/metadata/',
    'metadata.sources' => [
        ['type' => 'flatfile', 'directory' => __DIR__ . '/metadata'],
        ['type' => 'xml', 'file' => $dir . '/sp-metadata.xml'],
    ],

    'technicalcontact_name' => 'Switchboard tests',
    'technicalcontact_email' => 'na@example.org',
    'timezone' => 'UTC',

    'secretsalt' => getenv('SSP_TEST_SECRET'),
    'auth.adminpassword' => getenv('SSP_TEST_SECRET'),
    'admin.protectindexpage' => false,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,

    // Errors go to the PHP server's stderr, which the test shows on failure.
    'showerrors' => true,
    'errorreporting' => false,
    'logging.level' => SimpleSAML\Logger::DEBUG,
    'logging.handler' => 'errorlog',
    'logging.format' => '%level [%trackid] %msg',
    'statistics.out' => [],

    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp' => false,
    'module.enable' => [
        'exampleauth' => true,
        'core' => true,
        'saml' => true,
        'admin' => true,
    ],

    // Plain http on loopback: the cookies cannot be Secure.
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'language.cookie.secure' => false,
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => $dir . '/sessions',
    'session.phpsession.cookiename' => 'SimpleSAML',
    'session.cookie.name' => 'SimpleSAMLSessionID',
];

<?php

/*
 * The IdP's users: exampleauth:UserPass, with the attributes an LDAP
 * directory (inetOrgPerson and eduPerson) gives SimpleSAMLphp, under their
 * usual names. SimpleSAMLphp sends them as they are named here unless the
 * hosted IdP maps them (see metadata/saml20-idp-hosted.php).
 */

$config = [
    'admin' => ['core:AdminPassword'],

    'example-userpass' => [
        'exampleauth:UserPass',

        // A directory entry with a display name (cn).
        'ada:ada-password' => [
            'uid' => ['ada'],
            'mail' => ['ada.lovelace@example.com'],
            'cn' => ['Ada Lovelace'],
            'givenName' => ['Ada'],
            'sn' => ['Lovelace'],
            'eduPersonAffiliation' => ['member', 'employee'],
            'eduPersonPrincipalName' => ['ada@example.com'],
        ],

        // One with a given name and surname only.
        'grace:grace-password' => [
            'uid' => ['grace'],
            'mail' => ['grace.hopper@example.com'],
            'givenName' => ['Grace'],
            'sn' => ['Hopper'],
            'eduPersonAffiliation' => ['member', 'staff'],
        ],

        // SimpleSAMLphp's own example user (authsources.php of the package):
        // no email at all, which Switchboard must refuse.
        'student:studentpass' => [
            'uid' => ['test'],
            'eduPersonAffiliation' => ['member', 'student'],
        ],
    ],
];

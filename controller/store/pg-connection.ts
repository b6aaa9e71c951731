/** The connection string as logs and errors show it: the password replaced by ***. */
export function redactConnectionString(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.password !== '') url.password = '***';
    for (const key of ['password', 'sslpassword'])
      if (url.searchParams.has(key)) url.searchParams.set(key, '***');
    return url.toString();
  } catch {
    // key=value form, or nothing a URL parser accepts: show no value that could be a password
    return connectionString.replace(/(password\s*=\s*)\S+/gi, '$1***');
  }
}

/** text with every occurrence of the secret replaced */
export function scrubSecret(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('***') : text;
}

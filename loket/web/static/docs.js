// Starts Swagger UI on loket's own OpenAPI document (the script is served by loket).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: false,
  showExtensions: true,  // x-roles: who may call each operation
  presets: [SwaggerUIBundle.presets.apis],
});
